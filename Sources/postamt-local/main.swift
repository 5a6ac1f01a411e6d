// postamt-local: delivers one message to one local recipient (postamt-local(8)). The program is
// LocalDeliveryProgram in MailDelivery, which the runner's spawner also runs in a forked child.
import MailDelivery

LocalDeliveryProgram.main(CommandLine.arguments)
