#if canImport(Glibc)
import Glibc
#endif
import MailSystem
import WebmailProtocol

/// Files attached in the compose form, kept on the server between two submissions of it: a
/// refused message (a bad address, a limit) comes back with its attachments, and a resumed draft
/// brings its attachments back into the form. They live in the session's own directory (the
/// session file's path + `.files`, which root makes at login, mode 0700, owned by the user), one
/// file per attachment named by a random 256-bit id that the form carries in a `kept` field, so
/// a form can only name its own session's files. Logout empties the directory; root removes it
/// with the expired session (`SessionStore.removeExpired`).
///
/// A file is `postamt-upload 1`, the content type, the file name percent-encoded, each on a
/// line, then the content.
struct UploadStore {
    let directory: String

    init(session: SessionStore.Session) { directory = SessionStore.filesDirectory(session.path) }

    struct Upload: Equatable {
        let id: String
        let filename: String
        let contentType: String
        let content: [UInt8]
    }

    struct StoreError: Error, CustomStringConvertible { let description: String }

    var isAvailable: Bool { FileIO.isDirectory(directory) }

    /// Keeps one file; returns its id.
    func save(filename: String, contentType: String, content: [UInt8]) throws(StoreError) -> String {
        guard isAvailable else { throw StoreError(description: "the session has no file area (log in again)") }
        let id = SessionStore.randomToken()
        let path = "\(directory)/\(id)"
        let header = "postamt-upload 1\n\(contentType)\n\(FormData.encode(filename))\n"
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(description: "cannot keep \(filename): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        do { try FileIO.writeAll(fd, Array(header.utf8) + content) } catch {
            _ = unlink(path)
            throw StoreError(description: "cannot keep \(filename): \(error)")
        }
        return id
    }

    /// A kept file by its id; nil for an id that is not one of ours or a file that is gone.
    func load(_ id: String, limit: Int) -> Upload? {
        guard SessionStore.isWellFormed(id), let bytes = (try? FileIO.readFile("\(directory)/\(id)", limit: limit + 4096)) ?? nil else { return nil }
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == 10 {
            lines.append(bytes[start..<i])
            start = i + 1
            if lines.count == 3 { break }
        }
        guard lines.count == 3, String(decoding: lines[0], as: UTF8.self) == "postamt-upload 1" else { return nil }
        let name = FormData.decode(lines[2]) ?? "attachment"
        return Upload(id: id, filename: name, contentType: String(decoding: lines[1], as: UTF8.self), content: Array(bytes[start...]))
    }

    func remove(_ id: String) {
        guard SessionStore.isWellFormed(id) else { return }
        _ = unlink("\(directory)/\(id)")
    }

    /// Removes every kept file (logout; the directory stays for root to remove).
    static func empty(_ directory: String) {
        guard let names = try? FileIO.listDirectory(directory) else { return }
        for name in names where SessionStore.isWellFormed(name) { _ = unlink("\(directory)/\(name)") }
    }
}
