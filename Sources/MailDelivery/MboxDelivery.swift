#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// Appending to an mbox file: "From " line, ">From " quoting (mboxrd), a blank line after the
/// message, an fcntl lock, fsync, and on any failure a truncate back to the old size so the
/// file never holds half a message.
public enum MboxDelivery {
    public static func append(path: String, sender: String, parts: [ArraySlice<UInt8>]) -> DeliveryOutcome? {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return .temporary("2.0", "cannot open \(path): \(SystemError.describe(errno))") }
        let file = OwnedFD(adopting: fd)
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        if fcntl(file.raw, F_SETLKW, &lock) != 0 {
            return .temporary("2.0", "cannot lock \(path): \(SystemError.describe(errno))")
        }
        var st = stat()
        fstat(file.raw, &st)
        let oldSize = st.st_size
        var text: [UInt8] = Array("From \(sender.isEmpty ? "MAILER-DAEMON" : sender) \(asctimeNow())\n".utf8)
        var atLineStart = true
        for part in parts {
            for b in part {
                if atLineStart && b == UInt8(ascii: "F") { /* checked below */ }
                text.append(b)
                atLineStart = b == 0x0A
            }
        }
        text = quoteFromLines(text)
        if text.last != 0x0A { text.append(0x0A) }
        text.append(0x0A)
        do {
            try FileIO.writeAll(file.raw, text)
            try FileIO.fsync(file.raw)
            return nil
        } catch let e as SystemError {
            _ = ftruncate(file.raw, oldSize)
            return .temporary(e.isOutOfSpace ? "2.2" : "2.0", "cannot write \(path): \(e)")
        } catch {
            _ = ftruncate(file.raw, oldSize)
            return .temporary("2.0", "cannot write \(path)")
        }
    }

    /// mboxrd: a body line matching ^>*From  gets one more ">" (the first line is our own).
    static func quoteFromLines(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 64)
        var i = 0
        var first = true
        while i < bytes.count {
            var j = i
            while j < bytes.count && bytes[j] == UInt8(ascii: ">") { j += 1 }
            if !first && j + 5 <= bytes.count && Array(bytes[j..<j + 5]) == Array("From ".utf8) { out.append(UInt8(ascii: ">")) }
            first = false
            while i < bytes.count && bytes[i] != 0x0A { out.append(bytes[i]); i += 1 }
            if i < bytes.count { out.append(0x0A); i += 1 }
        }
        return out
    }

    static func asctimeNow() -> String {
        var t = time(nil)
        var tm = Glibc.tm()
        localtime_r(&t, &tm)
        var buffer = [CChar](repeating: 0, count: 64)
        strftime(&buffer, 64, "%a %b %e %H:%M:%S %Y", &tm)
        return String(cString: buffer)
    }
}
