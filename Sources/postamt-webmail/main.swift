// postamt-webmail(8): mail in a browser over HTTPS, one connection per process. See WebmailDaemon in WebmailServer.
#if canImport(Glibc)
import Glibc
#endif
import WebmailServer

exit(WebmailDaemon.main(CommandLine.arguments))
