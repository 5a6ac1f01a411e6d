import MailCodec
import MailCore
import MailDKIM
import MailMessage
import MailSystem

/// Chooses the key for a message and signs it: the domain of From: (RFC 6376 d= should match
/// it for DMARC), its key in dkim_key_directory/DOMAIN/ (the only one, or dkim_selector's).
/// Only mail that passed the sender check is signed: it has a submitter (an SMTP AUTH user or
/// the local user who ran sendmail, recorded by postamt-queue) who owns every From: address.
/// Mail relayed from outside, or with a From: its submitter does not own, goes unsigned, so a
/// key never vouches for a forgery. Each message's log says which, and why.
enum DKIMSigning {
    static func sign(_ crlfMessage: [UInt8], configuration: Configuration, submitter: String?, log: Log?,
                     queueID: String?) -> [UInt8] {
        let message = DKIMMessage(crlfMessage: crlfMessage)
        func none(_ why: String) -> [UInt8] {
            log?.info("dkim=none (not signed: \(why))", id: queueID)
            return crlfMessage
        }
        guard let from = message.value(of: "from") else { return none("no From: header") }
        guard let domain = fromDomain(from) else { return none("no domain in From:") }
        let directory = "\(configuration.string("dkim_key_directory"))/\(domain)"
        let keys = ((try? FileIO.listDirectory(directory)) ?? []).filter { $0.hasSuffix(".key") }.sorted()
        guard !keys.isEmpty else { return none("no key for \(domain)") }
        if let why = ownershipProblem(from: from, submitter: submitter, configuration: configuration) { return none(why) }
        let preferred = configuration.string("dkim_selector") + ".key"
        let file = keys.count == 1 ? keys[0] : (keys.contains(preferred) ? preferred : keys[0])
        let selector = String(file.dropLast(4))
        do {
            guard let pem = try FileIO.readFile("\(directory)/\(file)", limit: 65536) else { return none("no key for \(domain)") }
            let key = try DKIMKey(pem: pem)
            let signer = DKIMSigner(domain: domain, selector: selector, key: key,
                                    signedHeaders: configuration.list("dkim_signed_headers"))
            let field = try signer.signatureField(for: message, time: Clock.seconds())
            log?.info("dkim=signed (d=\(domain), s=\(selector), a=\(key.algorithm.signatureAlgorithm))", id: queueID)
            return field + crlfMessage
        } catch {
            return none("signing with \(directory)/\(file) failed: \(error)")
        }
    }

    /// Why the message must not be signed: no submitter, or a From: address the submitter does
    /// not own (through the same resolver smtpd's sender check uses); nil when it may be.
    static func ownershipProblem(from: String, submitter: String?, configuration: Configuration) -> String? {
        guard let submitter else { return "not submitted by a local or authenticated user" }
        let addresses = MailboxList.mailboxes(in: from).map(\.address)
        guard !addresses.isEmpty else { return "no address in From:" }
        let book = AddressBook(configuration: configuration)
        if !book.unavailable.isEmpty { return "the address tables cannot be read" }
        for address in addresses {
            let ownership = book.resolver.ownership(of: address, by: submitter)
            if !ownership.owned { return "From: <\(address)> is not owned by submitter \(submitter): \(ownership.reason)" }
        }
        return nil
    }

    /// The domain of the (first) address in a From: value, lower case.
    static func fromDomain(_ value: String) -> String? {
        var text = Substring(value)
        if let open = text.lastIndex(of: "<"), let close = text[open...].firstIndex(of: ">") {
            text = text[text.index(after: open)..<close]
        } else if let comma = text.firstIndex(of: ",") {
            text = text[..<comma]
        }
        guard let at = text.lastIndex(of: "@") else { return nil }
        var domain = String(text[text.index(after: at)...]).trimmingSpaces().lowercased()
        if let paren = domain.firstIndex(of: "(") { domain = String(domain[..<paren]).trimmingSpaces() }
        guard !domain.isEmpty, !domain.contains("/"), !domain.hasPrefix("."), !domain.contains("..") else { return nil }
        return domain
    }
}

/// RFC 6152 fallback: a single-part 8-bit message for a server without 8BITMIME gets its body
/// as quoted-printable (RFC 2045 §6.7) and Content-Transfer-Encoding says so.
enum SevenBitDowngrade {
    static func downgrade(_ crlfMessage: [UInt8]) -> [UInt8]? {
        let message = DKIMMessage(crlfMessage: crlfMessage)
        if let type = message.value(of: "content-type"), type.lowercased().hasPrefix("multipart/") || type.lowercased().hasPrefix("message/") {
            return nil
        }
        if let cte = message.value(of: "content-transfer-encoding")?.lowercased(), cte != "8bit" && cte != "7bit" {
            return nil
        }
        var out: [UInt8] = []
        for f in message.fields where DKIMMessage.name(of: f) != "content-transfer-encoding" { out += f }
        if message.value(of: "mime-version") == nil { out += Array("MIME-Version: 1.0\r\n".utf8) }
        if message.value(of: "content-type") == nil { out += Array("Content-Type: text/plain; charset=utf-8\r\n".utf8) }
        out += Array("Content-Transfer-Encoding: quoted-printable\r\n\r\n".utf8)
        out += quotedPrintable(message.body)
        return out
    }

    /// The body as quoted-printable (MailCodec), CRLF lines kept.
    static func quotedPrintable(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var start = body.startIndex
        var i = body.startIndex
        while i < body.endIndex {
            if body[i] == 13, i + 1 < body.endIndex, body[i + 1] == 10 {
                QuotedPrintable.encodeLine(body[start..<i], lineEnd: [13, 10], into: &out)
                out += [13, 10]
                i += 2
                start = i
            } else {
                i += 1
            }
        }
        QuotedPrintable.encodeLine(body[start..<body.endIndex], lineEnd: [13, 10], into: &out)
        return out
    }
}
