// postamt-smtpd: one ESMTP session on fd 0/1, roles mx, submission and smtps (postamt-smtpd(8)).
import SMTPServer

SMTPDaemon.main(arguments: Array(CommandLine.arguments.dropFirst()))
