// postamt-spamcheck: scores one message (postamt-spamcheck(8)).
#if canImport(Glibc)
import Glibc
#endif
import MailSystem
import SpamCheck

Signals.resetForProgramStart()
umask(0o077)
var environment: [String: String] = [:]
var entry = environ
while let pointer = entry.pointee {
    let text = String(cString: pointer)
    if let eq = text.firstIndex(of: "=") { environment[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
    entry += 1
}
exit(SpamCheckProgram.main(arguments: CommandLine.arguments, environment: environment))
