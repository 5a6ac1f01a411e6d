// postamt-remote: the SMTP client (postamt-remote(8)); qmail-remote's interface.
#if canImport(Glibc)
import Glibc
#endif
import MailRemote

exit(RemoteCommand.main(arguments: Array(CommandLine.arguments.dropFirst())))
