#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// One message of a POP3 session's INBOX.
public struct POP3Message: Hashable, Sendable {
    public var uid: UInt32
    public var baseName: String
    /// The UIDL string (RFC 1939 §7), stable for the message's life.
    public var uidl: String
    /// Size with CRLF line ends, what LIST and STAT report (RFC 1939 §11).
    public var crlfSize: Int
}

/// How UIDL strings are made: from the base name (Courier's way, Postamt's default), or as
/// Dovecot's default `pop3_uidl_format = %08Xu%08Xv` (the UID and the UIDVALIDITY, each eight
/// upper-case hex digits), which stays the same for a Maildir taken over from Dovecot because
/// its UIDs and UIDVALIDITY do.
public enum POP3UIDLFormat: Sendable {
    case baseName, dovecot
}

/// A POP3 session's view of INBOX (RFC 1939): taken once at login, as POP3 requires a fixed
/// message list for the session; new/ is moved to cur/ as Dovecot and Courier do.
///
/// Messages are in UID order, so POP3 numbers and IMAP UIDs agree in order and one identity
/// (the Maildir base name) serves both servers. Deletion happens only at QUIT (UPDATE state),
/// by base name: a message another session expunged meanwhile is simply already gone.
public final class POP3Maildir {
    public let mailbox: MaildirMailbox
    public private(set) var messages: [POP3Message] = []
    public var uidlFormat = POP3UIDLFormat.baseName

    public init(inbox: Maildir, lockOptions: DotLock.Options = DotLock.Options()) {
        self.mailbox = MaildirMailbox(maildir: inbox, lockOptions: lockOptions)
    }

    /// Takes the snapshot. Sizes come from the names (",W="), the cache, or the files (once;
    /// the cache keeps them for the next login). Messages that vanish meanwhile are left out.
    public func takeSnapshot() throws {
        let snapshot = try mailbox.synchronize(moveNew: true)
        var list: [POP3Message] = []
        list.reserveCapacity(snapshot.messages.count)
        for m in snapshot.messages {
            guard let info = try mailbox.info(uid: m.uid, crlfSize: true), let crlf = info.crlfSize else { continue }
            let uidl = uidlFormat == .dovecot ? POP3Maildir.dovecotUIDL(uid: m.uid, uidValidity: snapshot.uidValidity)
                                              : POP3Maildir.uidl(forBaseName: m.baseName)
            list.append(POP3Message(uid: m.uid, baseName: m.baseName, uidl: uidl, crlfSize: crlf))
        }
        try? mailbox.saveCache() // the cache is an optimisation: failing to write it is no error
        messages = list
    }

    /// Opens message `number` (1-based, RFC 1939 msg numbers) for RETR/TOP; nil when it is gone.
    public func open(number: Int) throws -> OwnedFD? {
        guard number >= 1, number <= messages.count else { return nil }
        return try mailbox.open(uid: messages[number - 1].uid)
    }

    /// Deletes the messages with these base names (DELE'd ones at QUIT); returns those removed.
    @discardableResult
    public func delete(baseNames: [String]) throws -> [String] {
        let removed = Set(try mailbox.remove(baseNames: baseNames))
        return messages.filter { removed.contains($0.uid) }.map(\.baseName)
    }

    /// Dovecot's default UIDL, `%08Xu%08Xv`.
    public static func dovecotUIDL(uid: UInt32, uidValidity: UInt32) -> String {
        func hex(_ v: UInt32) -> String {
            let digits = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
        }
        return hex(uid) + hex(uidValidity)
    }

    /// The UIDL for a base name: the base name itself when it fits RFC 1939 §7 ("one to 70
    /// characters in the range 0x21 to 0x7E"), as Courier does; else "X" and a 64-bit FNV-1a hash
    /// in hex, which is just as stable.
    public static func uidl(forBaseName base: String) -> String {
        let bytes = Array(base.utf8)
        if !bytes.isEmpty, bytes.count <= 70, bytes.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) { return base }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16)
        return "X" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
