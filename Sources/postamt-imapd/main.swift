// postamt-imapd: IMAP4rev1 on Maildir, one process per connection (postamt-imapd(8)).
#if canImport(Glibc)
import Glibc
#endif
import IMAPServer

exit(IMAPDaemon.main(CommandLine.arguments))
