// The queue's client side: handing a message to postamt-queue (QueueClient), sendmail's
// command line, listing the queue and poking the runner (QueueAdmin), the state file format.
// It sits on the storage layer and knows nothing of the runner or its spawner.
@_exported import MailQueueStore
