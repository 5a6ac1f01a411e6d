#if canImport(Glibc)
import Glibc
#endif
import MailSystem
import Maildir
import POP3Protocol

/// The engine's maildrop over a user's INBOX Maildir: the snapshot `POP3Maildir` took at
/// login. Numbers, sizes and UIDLs stay fixed for the session (RFC 1939 §5).
///
/// No lock is held: several sessions of one user (POP3 and IMAP, on one host or several over
/// NFS) each see their own consistent snapshot. DELE'd messages are removed at QUIT by their
/// Maildir base name; one that another session removed meanwhile is simply gone already, and
/// RETR of it answers -ERR. This is Dovecot's default (pop3_lock_session = no) and needs no
/// lock that a crashed session could leave behind.
public final class MaildirMaildrop: POP3Maildrop {
    public let drop: POP3Maildir
    let log: (String) -> Void

    public init(drop: POP3Maildir, log: @escaping (String) -> Void = { _ in }) {
        self.drop = drop
        self.log = log
    }

    public var messageCount: Int { drop.messages.count }
    public func messageSize(_ number: Int) -> Int { drop.messages[number - 1].crlfSize }
    public func uniqueID(_ number: Int) -> String { drop.messages[number - 1].uidl }

    public func openMessage(_ number: Int) throws -> any POP3MessageSource {
        guard let fd = try drop.open(number: number) else { throw MessageGone(number: number) }
        return FileMessageSource(fd: fd)
    }

    public func deleteMessages(_ numbers: [Int]) -> Bool {
        let names = numbers.filter { $0 >= 1 && $0 <= drop.messages.count }.map { drop.messages[$0 - 1].baseName }
        do {
            try drop.delete(baseNames: names)
            return true
        } catch {
            log("delete failed: \(error)")
            return false
        }
    }
}

/// RETR/TOP of a message another session removed after our snapshot.
public struct MessageGone: Error, CustomStringConvertible {
    public let number: Int
    public var description: String { "message \(number) was removed by another session" }
}

/// A message file read in pieces.
final class FileMessageSource: POP3MessageSource {
    let fd: OwnedFD

    init(fd: consuming OwnedFD) { self.fd = fd }

    func read(maximumLength: Int) throws -> [UInt8]? {
        let bytes = try FileIO.read(fd.raw, max: max(1, maximumLength))
        return bytes.isEmpty ? nil : bytes
    }
}
