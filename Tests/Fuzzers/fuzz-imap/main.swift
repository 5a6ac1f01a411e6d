// Bounded fuzzer for the IMAP command reader, parser and response encoder.
import IMAPProtocol
import TestSupport

let words = ["a1 ", "LOGIN u p", "SELECT INBOX", "FETCH 1:* (FLAGS BODY[HEADER.FIELDS (FROM)] BINARY[1]<0.10>)",
             "UID SEARCH CHARSET UTF-8 OR FROM x SINCE 1-Jan-2020", "APPEND INBOX (\\Seen) {5}", "{3+}", "~{4}", "IDLE", "DONE",
             "AUTHENTICATE PLAIN", "STORE 1 +FLAGS.SILENT (\\Deleted)", "\"quoted \\\" string\"", "(", ")", "[", "]", "NIL", "*", "%"]
FuzzDriver.run(name: "fuzz-imap", dictionary: words.map { Array($0.utf8) }) { IMAPProtocol.fuzz($0) }
