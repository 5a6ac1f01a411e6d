// Bounded fuzzer for the SMTP command parser and session (server and client reply parser).
import SMTPProtocol
import TestSupport

let words = ["EHLO x.example", "HELO a", "MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME", "RCPT TO:<x@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+2Bb",
             "DATA", ".", "BDAT 5 LAST", "BDAT 0", "RSET", "NOOP", "QUIT", "STARTTLS", "AUTH PLAIN AHVzZXIAcGFzcw==",
             "AUTH LOGIN", "dXNlcg==", "cGFzcw==", "*", "=", "MAIL FROM:<>", "RCPT TO:<postmaster>", "VRFY a", "250-", "354 go", "\r\n.\r\n", "<", ">", ":"]
FuzzDriver.run(name: "fuzz-smtp", dictionary: words.map { Array($0.utf8) }) {
    SMTPFuzzing.runServer($0) &+ SMTPFuzzing.runServer($0, role: .mx) &+ SMTPFuzzing.runClient($0)
}
