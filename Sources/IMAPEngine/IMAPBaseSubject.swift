/// The base subject of RFC 5256 §2.1, which SORT SUBJECT (and THREAD) compare. The input is
/// the Subject field with RFC 2047 encoded words already decoded to Unicode (step 1's first
/// half); the steps, with the ABNF of §5:
///
///     subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
///     subj-blob    = "[" *BLOBCHAR "]" *WSP
///     subj-fwd-hdr = "[fwd:"    subj-fwd-trl = "]"
///     subj-leader  = (*subj-blob subj-refwd) / WSP
///     subj-trailer = "(fwd)" / WSP
///
/// 1. tabs and continuations become spaces, runs of spaces one space;
/// 2. trailing subj-trailer removed, repeatedly;
/// 3. leading subj-leader removed, repeatedly;
/// 4. a leading subj-blob removed when what follows is not empty;
/// 5. 3 and 4 repeated until neither matches;
/// 6. "[fwd:" … "]" around the whole text unwrapped, and again from step 2.
///
/// The keywords are matched without regard to ASCII case ("RE:", "Fwd:"). The result keeps
/// its case; SORT compares it with i;unicode-casemap.
enum IMAPBaseSubject {
    static func of(_ subject: String) -> String { extract(subject).base }

    /// The base subject, and whether extracting it removed a reply or forward marker (a
    /// subj-refwd in step 3, a "(fwd)" trailer in step 2, or a "[fwd: …]" wrapper in step 6):
    /// what RFC 5256 §3 REFERENCES step 5 calls a reply or forward.
    static func extract(_ subject: String) -> (base: String, isReplyOrForward: Bool) {
        var s = collapse(Array(subject.unicodeScalars))
        var isReplyOrForward = false
        while true {
            // (2)
            if removeTrailers(&s) { isReplyOrForward = true }
            // (3)-(5)
            var changed = true
            while changed {
                changed = false
                while let (end, refwd) = leader(s, from: 0) {
                    s.removeFirst(end)
                    changed = true
                    if refwd { isReplyOrForward = true }
                }
                // (4) only when a non-empty subj-base follows: the trailers are gone and the
                // blob's end includes its *WSP, so anything left starts with a NONWSP.
                if let end = blobEnd(s, from: 0), end < s.count { s.removeFirst(end); changed = true }
            }
            // (6)
            if hasPrefix(s, "[fwd:"), s.last == "]" {
                s = Array(s[5..<(s.count - 1)])
                isReplyOrForward = true
                continue
            }
            break
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s)
        return (String(view), isReplyOrForward)
    }

    static func isWSP(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" }

    /// Step 1: tabs, CR and LF (continuations) to spaces; runs of spaces to one.
    static func collapse(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        for c in scalars {
            let space = c == " " || c == "\t" || c == "\r" || c == "\n"
            if space {
                if out.last != " " { out.append(" ") }
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Step 2; true when a "(fwd)" was among what went.
    @discardableResult
    static func removeTrailers(_ s: inout [Unicode.Scalar]) -> Bool {
        var forward = false
        while true {
            if let last = s.last, isWSP(last) {
                s.removeLast()
            } else if s.count >= 5, hasPrefix(s, "(fwd)", at: s.count - 5) {
                s.removeLast(5)
                forward = true
            } else {
                return forward
            }
        }
    }

    /// Case-insensitive ASCII prefix test.
    static func hasPrefix(_ s: [Unicode.Scalar], _ prefix: String, at start: Int = 0) -> Bool {
        var i = start
        for p in prefix.unicodeScalars {
            guard i < s.count else { return false }
            let c = s[i]
            let lower = c.value >= 0x41 && c.value <= 0x5A ? c.value + 0x20 : c.value
            guard lower == p.value else { return false }
            i += 1
        }
        return true
    }

    /// The end of a subj-blob starting at `start` (after its trailing WSP), or nil.
    static func blobEnd(_ s: [Unicode.Scalar], from start: Int) -> Int? {
        guard start < s.count, s[start] == "[" else { return nil }
        var i = start + 1
        while i < s.count, s[i] != "[", s[i] != "]" { i += 1 }
        guard i < s.count, s[i] == "]" else { return nil }
        i += 1
        while i < s.count, isWSP(s[i]) { i += 1 }
        return i
    }

    /// The end of a subj-leader at `start`: one WSP, or blobs followed by a subj-refwd (then
    /// `refwd` is true).
    static func leader(_ s: [Unicode.Scalar], from start: Int) -> (end: Int, refwd: Bool)? {
        guard start < s.count else { return nil }
        if isWSP(s[start]) { return (start + 1, false) }
        var i = start
        while true {
            if let end = refwdEnd(s, from: i) { return (end, true) }
            guard let end = blobEnd(s, from: i) else { return nil }
            i = end
        }
    }

    /// The end of a subj-refwd at `start`: "re" / "fw" / "fwd", WSP, an optional blob, ":".
    static func refwdEnd(_ s: [Unicode.Scalar], from start: Int) -> Int? {
        var candidates: [Int] = []
        if hasPrefix(s, "re", at: start) { candidates.append(start + 2) }
        if hasPrefix(s, "fwd", at: start) { candidates.append(start + 3) }
        if hasPrefix(s, "fw", at: start) { candidates.append(start + 2) }
        for var i in candidates {
            while i < s.count, isWSP(s[i]) { i += 1 }
            if let end = blobEnd(s, from: i) {
                if end < s.count, s[end] == ":" { return end + 1 }
            }
            if i < s.count, s[i] == ":" { return i + 1 }
        }
        return nil
    }
}
