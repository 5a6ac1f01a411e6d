// postamt-spamcheck: scores one message (postamt-spamcheck(8)).
#if canImport(Glibc)
import Glibc
#endif
import MailSystem
import SpamCheck

Signals.resetForProgramStart()
umask(0o077)
// Only the variables postamt-spamcheck reads (postamt-spamcheck(8), ENVIRONMENT): copying the
// whole environment into a dictionary cost about 5 % of a run.
var environment: [String: String] = [:]
for name in SpamCheckProgram.environmentVariables {
    if let value = getenv(name) { environment[name] = String(cString: value) }
}
exit(SpamCheckProgram.main(arguments: CommandLine.arguments, environment: environment))
