import MailNet
import SMTPProtocol

/// Why a conversation with one host ended before a transaction started (the caller may try
/// the next host) or inside one (the results are final for this run).
public struct SMTPClientFailure: Error, CustomStringConvertible {
    public enum Stage: Sendable { case connect, greeting, hello, startTLS, auth, transaction }
    public let stage: Stage
    /// The server's reply, when it gave one.
    public let reply: SMTPReply?
    public let text: String
    public var isPermanent: Bool { reply?.isPermanentFailure == true }
    public var description: String { text }
}

/// One SMTP client connection (RFC 5321) over a `ByteStream`: reads replies with
/// `SMTPReplyParser`, sends commands, switches to TLS on STARTTLS.
final class SMTPClientSession {
    var stream: any ByteStream
    let plain: PlainStream
    let peer: String
    var parser = SMTPReplyParser()
    var pending: [SMTPReply] = []
    /// Bytes read beyond the last complete reply.
    var leftover: [UInt8] = []
    let commandTimeout: Duration
    /// Every line we send, for the log of a failed session (never AUTH data).
    var capabilities: SMTPCapabilities?

    init(plain: PlainStream, peer: String, commandTimeout: Duration) {
        self.plain = plain
        self.stream = plain
        self.peer = peer
        self.commandTimeout = commandTimeout
    }

    /// Reads the next complete reply; throws on timeout, end of stream or garbage.
    func readReply(timeout: Duration? = nil, stage: SMTPClientFailure.Stage) throws(SMTPClientFailure) -> SMTPReply {
        if !pending.isEmpty { return pending.removeFirst() }
        let saved = stream.timeout
        stream.timeout = timeout ?? commandTimeout
        defer { stream.timeout = saved }
        while pending.isEmpty {
            var buffer: [UInt8] = []
            if !leftover.isEmpty {
                swap(&buffer, &leftover)
            } else {
                let n: Int
                do {
                    n = try stream.read(appendingTo: &buffer, max: 16384)
                } catch {
                    let what = (error as? NetError)?.isTimeout == true ? "timed out waiting for a reply from \(peer)" : "reading from \(peer): \(error)"
                    throw SMTPClientFailure(stage: stage, reply: nil, text: "\(what) (#4.4.2)")
                }
                if n == 0 { throw SMTPClientFailure(stage: stage, reply: nil, text: "\(peer) closed the connection (#4.4.2)") }
            }
            // Line by line, stopping after a complete reply: what follows belongs to the next
            // reply, or, after "220" to STARTTLS, is plaintext that must be discarded (RFC 3207 §6).
            var start = 0
            while start < buffer.count && pending.isEmpty {
                let end = buffer[start...].firstIndex(of: 10).map { $0 + 1 } ?? buffer.count
                do {
                    pending += try parser.feed(buffer[start..<end])
                } catch {
                    throw SMTPClientFailure(stage: stage, reply: nil, text: "\(peer) does not speak SMTP: \(error) (#4.5.0)")
                }
                start = end
            }
            leftover = Array(buffer[start...])
        }
        return pending.removeFirst()
    }

    func send(_ bytes: [UInt8], stage: SMTPClientFailure.Stage) throws(SMTPClientFailure) {
        stream.timeout = commandTimeout
        do {
            try stream.write(bytes)
        } catch {
            throw SMTPClientFailure(stage: stage, reply: nil, text: "writing to \(peer): \(error) (#4.4.2)")
        }
    }

    func command(_ line: String, stage: SMTPClientFailure.Stage) throws(SMTPClientFailure) -> SMTPReply {
        try send(Array((line + "\r\n").utf8), stage: stage)
        return try readReply(stage: stage)
    }

    /// EHLO, or HELO when EHLO is refused (RFC 5321 §3.2). Sets `capabilities` (empty for HELO).
    func hello(_ name: String) throws(SMTPClientFailure) {
        let ehlo = try command("EHLO \(name)", stage: .hello)
        if let caps = SMTPCapabilities(ehloReply: ehlo) {
            capabilities = caps
            return
        }
        let helo = try command("HELO \(name)", stage: .hello)
        guard helo.isPositive else {
            throw SMTPClientFailure(stage: .hello, reply: helo, text: said(helo, after: "HELO"))
        }
        capabilities = SMTPCapabilities(ehloReply: SMTPReply(250, nil, name))
    }

    /// "host said: 550 5.1.1 No such user (in reply to RCPT TO)".
    func said(_ reply: SMTPReply, after command: String) -> String {
        var text = "\(peer) said: \(reply.code)"
        if let e = reply.enhancedCode { text += " \(e)" }
        text += " \(reply.text) (in reply to \(command))"
        return text
    }

    func quit() {
        _ = try? send(Array("QUIT\r\n".utf8), stage: .transaction)
        _ = try? readReply(timeout: .seconds(5), stage: .transaction)
    }
}
