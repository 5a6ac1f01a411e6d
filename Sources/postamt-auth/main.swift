// postamt-auth(8): Postamt's only program that links PAM. See AuthCommand in MailAuthServer.
#if canImport(Glibc)
import Glibc
#endif
import MailAuthServer

exit(AuthCommand.main(CommandLine.arguments))
