#if canImport(Glibc)
import Glibc
#endif
import MailSystem

extension UIDList {
    /// When `file` describes the folder exactly — new/ empty, and cur/ holding a file for
    /// every entry, named canonically ("<base>:2,<flags>") with the entry's flags, and nothing
    /// else — the stamp of that listing of cur/ (its mtime before and after, unchanged, and when
    /// it was taken); nil when anything differs (the caller then scans the usual way) or cur/
    /// changed during the listing.
    ///
    /// This is the check a session makes when cur/'s stamp is too fresh to trust (every change
    /// leaves one, see `CurStamp`): one pass over the directory's entries as bytes against a
    /// hash table of the list's names, no String and no dictionary per message, so a folder of
    /// 100,000 messages is checked in about a tenth of a second and a few megabytes (the full
    /// scan: a second and 60 MB).
    static func verifiedStamp(_ folderPath: String, _ file: UIDListFile) throws -> CurStamp? {
        guard try !MaildirScanner.hasMessages("\(folderPath)/new") else { return nil }
        let names = file.entries.baseNames.resolved()
        let flags = file.entries.flags
        let n = names.count
        guard n < Int(Int32.max) / 2 else { return nil }
        let cur = "\(folderPath)/cur"
        let checked = FileTime.now()
        guard let before = FileIO.status(cur).map({ FileTime($0.st_mtim) }) else { return nil }
        var found = 0
        var matches = true
        let listed: Void? = names.bytes.withUnsafeBufferPointer { first in
            names.added.withUnsafeBufferPointer { second in
                names.spans.withUnsafeBufferPointer { spans in
                    // A name's bytes, wherever they lie (see BaseNameList).
                    func name(_ i: Int) -> UnsafeBufferPointer<UInt8> {
                        let start = Int(spans[i].start), count = Int(spans[i].count)
                        return start < first.count ? UnsafeBufferPointer(rebasing: first[start..<start + count])
                            : UnsafeBufferPointer(rebasing: second[(start - first.count)..<(start - first.count + count)])
                    }
                    func same(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
                        a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
                    }
                    func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
                        var h: UInt64 = 0xCBF2_9CE4_8422_2325 // FNV-1a
                        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
                        return Int(truncatingIfNeeded: h ^ (h >> 29))
                    }
                    // Open addressing, linear probing: entry index + 1, 0 for an empty slot.
                    var capacity = 16
                    while capacity < 2 * n { capacity <<= 1 }
                    let mask = capacity - 1
                    var slots = [Int32](repeating: 0, count: capacity)
                    let seen = UnsafeMutableBufferPointer<Bool>.allocate(capacity: n)
                    seen.initialize(repeating: false)
                    defer { seen.deallocate() }
                    return slots.withUnsafeMutableBufferPointer { slots -> Void? in
                        for i in 0..<n {
                            let own = name(i)
                            var k = hash(own) & mask
                            while slots[k] != 0 {
                                // A name listed twice: the usual scan sorts that out.
                                if same(name(Int(slots[k]) - 1), own) { matches = false; return () }
                                k = (k + 1) & mask
                            }
                            slots[k] = Int32(i + 1)
                        }
                        return try? FileIO.forEachEntry(cur) { entry in
                            guard MaildirScanner.isMessageName(entry) else { return true }
                            // "<base>:2,<flags>": the base up to the first ":".
                            guard let colon = entry.firstIndex(of: UInt8(ascii: ":")) else { matches = false; return false }
                            let base = UnsafeBufferPointer(rebasing: entry[..<colon])
                            var k = hash(base) & mask
                            var index = -1
                            while slots[k] != 0 {
                                let i = Int(slots[k]) - 1
                                if same(name(i), base) { index = i; break }
                                k = (k + 1) & mask
                            }
                            guard index >= 0, !seen[index],
                                  MaildirFlags.isCanonicalInfo(UnsafeBufferPointer(rebasing: entry[colon...]), flags[index]) else {
                                matches = false
                                return false
                            }
                            seen[index] = true
                            found += 1
                            return true
                        }
                    }
                }
            }
        }
        guard listed != nil, matches, found == n, let after = FileIO.status(cur).map({ FileTime($0.st_mtim) }), after == before else { return nil }
        return CurStamp(modified: before, checked: checked)
    }
}

extension MaildirScanner {
    /// Whether a directory entry can be a message (what `listMessages` keeps): not hidden, no
    /// control characters.
    static func isMessageName(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = name.first, first != UInt8(ascii: ".") else { return false }
        return !name.contains { $0 < 0x20 || $0 == 0x7F }
    }

    /// Whether `dir` holds a message (`listMessages` not empty), read as bytes up to the first;
    /// a missing directory holds none.
    static func hasMessages(_ dir: String) throws -> Bool {
        var found = false
        do {
            try FileIO.forEachEntry(dir) { name in
                found = isMessageName(name)
                return !found
            }
        } catch let e as SystemError {
            if e.errno == ENOENT { return false }
            throw MaildirError.system(e)
        }
        return found
    }
}

extension MaildirFlags {
    /// Whether `info` is ":2," and exactly the letters of `flags` in ASCII order (the info of a
    /// canonical name, see `MaildirFileName.isCanonical`).
    static func isCanonicalInfo(_ info: UnsafeBufferPointer<UInt8>, _ flags: MaildirFlags) -> Bool {
        guard info.count >= 3, info[0] == UInt8(ascii: ":"), info[1] == UInt8(ascii: "2"), info[2] == UInt8(ascii: ",") else { return false }
        return MaildirFlags(canonicalLetters: UnsafeBufferPointer(rebasing: info[3...])) == flags
    }
}
