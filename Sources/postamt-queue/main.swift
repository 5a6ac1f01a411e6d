// postamt-queue: puts one message into the queue (postamt-queue(8)); qmail-queue's interface.
// The program is QueueProgram in MailQueueStore, which smtpd also runs in a forked child.
import MailQueueStore

QueueProgram.main()
