// postamt-spamcheck: scores one message (postamt-spamcheck(8)).
import SpamCheck

SpamCheckProgram.runAsProgram(arguments: CommandLine.arguments)
