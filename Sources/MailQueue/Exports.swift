// The queue's storage layer is its own small module so that postamt-queue links neither a
// parser nor the runner (its dependency list is its security review); the client side
// (injection, listing, the trigger) is another, which smtpd and sendmail link without the
// runner. The runner builds on both.
@_exported import MailQueueStore
@_exported import MailQueueClient
