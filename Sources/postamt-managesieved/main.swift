// postamt-managesieved(8): ManageSieve (RFC 5804), one connection per process. See ManageSieveDaemon.
#if canImport(Glibc)
import Glibc
#endif
import ManageSieveServer

exit(ManageSieveDaemon.main(CommandLine.arguments))
