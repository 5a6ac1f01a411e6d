// postamt-pop3d(8): POP3 on Maildir, one connection per process. See POP3Daemon in POP3Server.
#if canImport(Glibc)
import Glibc
#endif
import POP3Server

exit(POP3Daemon.main(CommandLine.arguments))
