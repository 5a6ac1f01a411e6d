// Bounded fuzzer for the POP3 session.
import POP3Protocol
import TestSupport

let words = ["USER u", "PASS p", "STAT", "LIST", "LIST 1", "RETR 1", "TOP 1 0", "UIDL", "DELE 1", "RSET", "NOOP", "QUIT",
             "CAPA", "STLS", "AUTH", "AUTH PLAIN", "AUTH LOGIN dXNlcg==", "AHUAcA==", "*", "="]
FuzzDriver.run(name: "fuzz-pop3", dictionary: words.map { Array($0.utf8) }) { POP3Fuzzing.runServer($0) }
