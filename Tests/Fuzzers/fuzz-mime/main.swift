// Bounded fuzzer for the message parser (RFC 5322 header, MIME tree, encodings).
import MailMessage
import TestSupport

let words = ["From: a@b\r\n", "Subject: =?utf-8?B?w6k=?=\r\n", "Content-Type: multipart/mixed; boundary=\"b\"\r\n",
             "Content-Type: message/rfc822\r\n", "Content-Transfer-Encoding: base64\r\n", "Content-Transfer-Encoding: quoted-printable\r\n",
             "--b\r\n", "--b--\r\n", "\r\n", "=E9=\r\n", "Zm9v", "Content-Disposition: attachment; filename*=utf-8''%C3%A9\r\n", " folded\r\n"]
FuzzDriver.run(name: "fuzz-mime", dictionary: words.map { Array($0.utf8) }) { MIMEFuzz.run($0) }
