import Foundation
import Glibc
import Testing
import TestSupport

/// A dnsmasq answering for `.test` from the records given, on a free port of 127.0.0.1
/// (TestSupport's Dnsmasq, started and answering).
final class TestDNS {
    private let dnsmasq: Dnsmasq
    var port: UInt16 { dnsmasq.port }

    init(records: [String]) throws {
        dnsmasq = try Dnsmasq(records: ["--host-record=ready.test,192.0.2.99"] + records)
        _ = try dnsmasq.resolver()  // returns once it answers
    }
}

/// Two installations on one machine: A (a.test) sends by postamt-remote to the MX of b.test,
/// which dnsmasq points at installation B's postamt-smtpd (mx role) on 127.0.0.31.
final class TwoHopBed {
    static let mxAddress = "127.0.0.31"
    static var canRun: Bool { RemoteTestBed.canRun && dkimpyAvailable }
    static let skipReason = "needs root (users, setpriv), dnsmasq (dnsmasq-base) and dkimpy (python3-dkim)"
    static let dkimpyAvailable: Bool = (try? run("/usr/bin/python3", ["-c", "import dkim"]).status == 0) ?? false

    let b: SMTPSite
    let dns: TestDNS
    let a: Installation

    init() throws {
        b = try SMTPSite(config: "myhostname = b.test", auth: false)
        let port = try TwoHopBed.listen(b, on: TwoHopBed.mxAddress)
        dns = try TestDNS(records: ["--mx-host=b.test,mx.b.test,10", "--host-record=mx.b.test,\(TwoHopBed.mxAddress)"])
        a = try Installation(config: """
            myhostname = a.test
            remote_nameserver = 127.0.0.1:\(dns.port)
            remote_smtp_port = \(port)
            remote_destination_backoff = 1s
            """)
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-remote",
                                         toPath: "\(a.root)/bin/postamt-remote")
        chmod("\(a.root)/bin/postamt-remote", 0o755)
    }

    /// Starts `postamt-listen -1 ADDRESS postamt-smtpd mx` for `site` (stopped with it) and
    /// returns the port it bound.
    static func listen(_ site: SMTPSite, on address: String) throws -> UInt16 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(site.system.root)/bin/postamt-listen")
        p.arguments = ["-1", address, "\(site.system.root)/bin/postamt-smtpd", "mx"]
        p.environment = site.system.environment
        let out = Foundation.Pipe()
        p.standardOutput = out
        let logHandle = FileHandle(forUpdatingAtPath: site.listenLog)!
        logHandle.seekToEndOfFile()
        p.standardError = logHandle
        try p.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw HarnessError("postamt-listen exited: \(site.log())") }
            line += chunk
        }
        guard let port = UInt16(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError("postamt-listen printed no port")
        }
        site.listeners["mx"] = (p, port)
        return port
    }
}

/// Issue 4's end-to-end test: a message through two Postamt hops.
@Suite(.serialized, .enabled(if: TwoHopBed.canRun, "needs root (users, setpriv), dnsmasq (dnsmasq-base) and dkimpy (python3-dkim)"))
struct TwoHopTests {
    /// A's postamt-remote signs and sends, B's postamt-smtpd takes it, B's postamt-local
    /// delivers: the body arrives byte for byte, the signature verifies with dkimpy.
    @Test func bodyIntactAndSignatureVerifies() throws {
        let bed = try TwoHopBed()
        let user = try TestUser()
        let keygen = try bed.a.postamt(["dkim", "keygen", "a.test"])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let record = RemoteDeliveryTests.txtText(keygen.stdout)
        #expect(record.hasPrefix("v=DKIM1; k="), "\(keygen.stdout)")
        try bed.a.startRunner()

        let rcpt = "\(user.name)@b.test"
        let longLine = String((0..<998).map { i in Character(Unicode.Scalar(UInt8(0x21 + i % 94))) })
        let header = """
            From: Ann Sender <ann@a.test>
            To: <\(rcpt)>
            Subject: two hops
            Date: Sun, 29 Nov 2026 19:00:00 +0000
            Message-ID: <twohop.1@a.test>
            MIME-Version: 1.0
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit


            """
        let body = "Gr\u{fc}\u{df}e aus K\u{f6}ln \u{2014} \u{bd} \u{20ac}\n"
            + ".a line that starts with a dot\n..two dots\n.\n"
            + "trailing spaces   \ntrailing tab\t\n"
            + "\(longLine)\n"
            + "\n\n"
            + "From the start of a line\n"
            + "last line, no trailing space\n"
        let sent = try bed.a.sendmail(["-i", "-f", "ann@a.test", rcpt], header + body)
        #expect(sent.status == 0, "\(sent.stderr)")

        try waitFor("delivery at B", timeout: 180) { !user.messageData().isEmpty }
        let delivered = user.messageData()[0]
        let text = String(decoding: delivered, as: UTF8.self)
        guard let split = delivered.range(of: Data("\n\n".utf8)) else {
            Issue.record("no end of header in \(text)")
            return
        }
        #expect(delivered[split.upperBound...] == Data(body.utf8), "\(text)")
        let headerLines = String(decoding: delivered[..<split.lowerBound], as: UTF8.self)

        // The envelope sender and the Received: chain, newest first: B's queue, B's
        // smtpd (from A, by b.test), then A's queue.
        #expect(headerLines.hasPrefix("Return-Path: <ann@a.test>\n"), "\(headerLines)")
        #expect(headerLines.contains("Delivered-To: \(rcpt)"), "\(headerLines)")
        let received = TwoHopTests.fields("Received", in: headerLines)
        #expect(received.count == 3, "\(received)")
        if received.count == 3 {
            #expect(received[0].contains("invoked from network"), "\(received[0])")
            #expect(received[1].hasPrefix("Received: from a.test ([127.0.0."), "\(received[1])")
            #expect(received[1].contains("by b.test (Postamt) with ESMTPS"), "\(received[1])")
            #expect(received[1].contains("for <\(rcpt)>"), "\(received[1])")
            #expect(received[2].contains("invoked by uid"), "\(received[2])")
        }
        #expect(TwoHopTests.fields("DKIM-Signature", in: headerLines).count == 1, "\(headerLines)")

        // B answers 250 before A's runner hears the result: wait for A's log line.
        try waitFor("A logs the delivery", timeout: 60) { bed.a.log().contains("status=sent") }
        let log = bed.a.log()
        #expect(log.contains("dkim=signed (d=a.test, s=postamt"), "\(log)")

        // dkimpy verifies the copy as B stored it, in SMTP's CRLF form.
        let crlf = Data(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        #expect(try RemoteDeliveryTests.dkimVerifies(crlf, record: record, in: bed.a.root))
        // And a changed body does not verify (the check can fail).
        let forged = Data(text.replacingOccurrences(of: "last line", with: "Last line").replacingOccurrences(of: "\n", with: "\r\n").utf8)
        #expect(try !RemoteDeliveryTests.dkimVerifies(forged, record: record, in: bed.a.root))
    }

    /// B refuses an unknown recipient at RCPT; A bounces to its local sender with B's reply.
    @Test func unknownRecipientBouncesWithRemoteReply() throws {
        let bed = try TwoHopBed()
        let sender = try TestUser()
        try bed.a.startRunner()
        let from = "\(sender.name)@a.test"
        let rcpt = "nosuch\(sender.name)@b.test"
        let sent = try bed.a.sendmail(["-f", from, rcpt], "From: \(from)\nTo: \(rcpt)\nSubject: to nobody\n\nhello\n")
        #expect(sent.status == 0, "\(sent.stderr)")
        try waitFor("bounce at A", timeout: 180) { sender.messages().contains { $0.contains(rcpt) } }
        let bounce = sender.messages().first { $0.contains(rcpt) }!
        #expect(bounce.contains("mx.b.test[\(TwoHopBed.mxAddress)] said: 550 5.1.1 <\(rcpt)>: Recipient address rejected: User unknown"),
                "\(bounce)")
        #expect(bounce.contains("Status: 5.1.1"), "\(bounce)")
        #expect(bounce.contains("Subject: to nobody"), "\(bounce)")
        try waitFor("A logs the bounce", timeout: 60) { bed.a.log().contains("status=bounced") }
        // B queued nothing.
        #expect(bed.b.system.queueIsEmpty)
    }

    /// The header fields named `name`, unfolded continuation lines kept, in order.
    static func fields(_ name: String, in header: String) -> [String] {
        var result: [String] = []
        var current: String?
        for line in header.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(" ") || line.hasPrefix("\t") {
                if current != nil { current! += "\n" + line }
                continue
            }
            if let c = current { result.append(c) }
            current = line.lowercased().hasPrefix(name.lowercased() + ":") ? String(line) : nil
        }
        if let c = current { result.append(c) }
        return result
    }
}
