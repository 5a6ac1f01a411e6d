// Bounded fuzzer for the webmail's HTTP/1.1 request parser, form parsers and HTML sanitizer.
import TestSupport
import WebmailProtocol

let words = ["GET / HTTP/1.1\r\n", "POST /login HTTP/1.1\r\n", "Host: x\r\n", "Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n",
             "Cookie: s=abc\r\n", "Content-Type: multipart/form-data; boundary=b\r\n", "--b\r\n", "a=1&b=%20", "<script>", "<a href=\"javascript:x\">",
             "<img src=x onerror=y>", "0\r\n\r\n", "\r\n"]
FuzzDriver.run(name: "fuzz-http", dictionary: words.map { Array($0.utf8) }) { WebmailProtocol.fuzz($0) }
