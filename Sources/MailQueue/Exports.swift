// The queue's storage layer is its own small module so that postamt-queue links neither a
// parser nor the runner (its dependency list is its security review).
@_exported import MailQueueStore
