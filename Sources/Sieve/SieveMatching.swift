/// Comparators (RFC 4790 as RFC 5228 §2.7.3 uses them), match types (:is, :contains,
/// :matches with RFC 5229 match variables) and RFC 5231 relations.
///
/// :matches runs in O(text × pattern) without backtracking: the pattern is cut at its "*"s,
/// the first piece is anchored at the start, the last at the end, and each piece between is
/// placed at its leftmost position. That is RFC 5229 §3.2's shortest-first rule for every
/// wildcard but the last, so the match variables come out as the RFC says.
enum SieveMatcher {
    static func fold(_ s: String, _ c: SieveComparator) -> [Unicode.Scalar] {
        let scalars = Array(s.unicodeScalars)
        guard c == .asciiCasemap else { return scalars }
        return scalars.map { $0.value >= 0x41 && $0.value <= 0x5A ? Unicode.Scalar($0.value | 0x20)! : $0 }
    }

    /// i;ascii-numeric: the leading digits as a number; none is positive infinity (nil).
    static func numeric(_ s: String) -> UInt64?? {
        var v: UInt64 = 0
        var any = false
        for b in s.utf8 {
            guard b >= 0x30 && b <= 0x39 else { break }
            any = true
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(b - 0x30))
            v = (o1 || o2) ? UInt64.max : a
        }
        return any ? .some(v) : .some(nil)
    }

    /// -1, 0, 1 for value against key under the comparator.
    static func compare(_ value: String, _ key: String, _ c: SieveComparator) -> Int {
        switch c {
        case .asciiNumeric:
            let a = numeric(value)!, b = numeric(key)!
            switch (a, b) {
            case (nil, nil): return 0
            case (nil, _): return 1
            case (_, nil): return -1
            case (let x?, let y?): return x < y ? -1 : x == y ? 0 : 1
            }
        case .octet, .asciiCasemap:
            let a = fold(value, c), b = fold(key, c)
            for (x, y) in zip(a, b) where x != y { return x.value < y.value ? -1 : 1 }
            return a.count < b.count ? -1 : a.count == b.count ? 0 : 1
        }
    }

    static func relation(_ r: SieveRelation, _ cmp: Int) -> Bool {
        switch r {
        case .gt: return cmp > 0
        case .ge: return cmp >= 0
        case .lt: return cmp < 0
        case .le: return cmp <= 0
        case .eq: return cmp == 0
        case .ne: return cmp != 0
        }
    }

    /// One value against one key. `captures` receives ${0}..${n} on a successful :matches.
    static func match(_ value: String, _ key: String, _ m: SieveMatch, captures: inout [String]?) -> Bool {
        switch m.type {
        case .is:
            return compare(value, key, m.comparator) == 0
        case .contains:
            if m.comparator == .asciiNumeric { return compare(value, key, m.comparator) == 0 }
            let t = fold(value, m.comparator), k = fold(key, m.comparator)
            if k.isEmpty { return true }
            if k.count > t.count { return false }
            for start in 0...(t.count - k.count) where t[start] == k[0] {
                if Array(t[start..<(start + k.count)]) == k { return true }
            }
            return false
        case .matches:
            return glob(value, key, m.comparator, captures: &captures)
        case .value(let r):
            return relation(r, compare(value, key, m.comparator))
        case .count:
            return false // counted by the caller
        }
    }

    enum PatternElement: Equatable { case literal(Unicode.Scalar), one, star }

    static func pattern(_ key: String, _ c: SieveComparator) -> [PatternElement] {
        var out: [PatternElement] = []
        var escaped = false
        for s in fold(key, c) {
            if escaped { out.append(.literal(s)); escaped = false; continue }
            switch s {
            case "\\": escaped = true
            case "*": out.append(.star)
            case "?": out.append(.one)
            default: out.append(.literal(s))
            }
        }
        return out
    }

    static func glob(_ value: String, _ key: String, _ c: SieveComparator, captures: inout [String]?) -> Bool {
        let text = fold(value, c)
        let original = Array(value.unicodeScalars)
        let pat = pattern(key, c)
        var pieces: [[PatternElement]] = [[]]
        for e in pat { if e == .star { pieces.append([]) } else { pieces[pieces.count - 1].append(e) } }
        func fits(_ piece: [PatternElement], at start: Int) -> Bool {
            guard start >= 0, start + piece.count <= text.count else { return false }
            for (i, e) in piece.enumerated() {
                if case .literal(let s) = e, text[start + i] != s { return false }
            }
            return true
        }
        var caps: [String] = []
        func str(_ r: Range<Int>) -> String {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: original[r])
            return String(s)
        }
        func captureOnes(_ piece: [PatternElement], at start: Int) {
            for (i, e) in piece.enumerated() where e == .one { caps.append(str((start + i)..<(start + i + 1))) }
        }
        if pieces.count == 1 {
            guard pieces[0].count == text.count, fits(pieces[0], at: 0) else { return false }
            captureOnes(pieces[0], at: 0)
        } else {
            let first = pieces[0], last = pieces[pieces.count - 1]
            guard fits(first, at: 0) else { return false }
            captureOnes(first, at: 0)
            var pos = first.count
            for piece in pieces[1..<(pieces.count - 1)] {
                var found = -1
                var s = pos
                while s + piece.count <= text.count {
                    if fits(piece, at: s) { found = s; break }
                    s += 1
                }
                guard found >= 0 else { return false }
                caps.append(str(pos..<found))
                captureOnes(piece, at: found)
                pos = found + piece.count
            }
            let tail = text.count - last.count
            guard tail >= pos, fits(last, at: tail) else { return false }
            caps.append(str(pos..<tail))
            captureOnes(last, at: tail)
        }
        if captures != nil { captures = [value] + caps }
        return true
    }

    /// The whole test: any value against any key; :count compares the number of values.
    static func test(_ values: [String], _ keys: [String], _ m: SieveMatch, captures: inout [String]?) -> Bool {
        if case .count(let r) = m.type {
            let n = String(values.count)
            return keys.contains { relation(r, compare(n, $0, .asciiNumeric)) }
        }
        for v in values {
            for k in keys {
                var c: [String]? = captures == nil ? nil : []
                if match(v, k, m, captures: &c) {
                    if let c, case .matches = m.type { captures = c }
                    return true
                }
            }
        }
        return false
    }
}

/// RFC 5229 variables: names and ${...} expansion.
public enum SieveVariables {
    public static func isValidName(_ name: String) -> Bool {
        guard let f = name.utf8.first, SieveLexer.isAlpha(f) else { return false }
        return name.utf8.allSatisfy { SieveLexer.isAlpha($0) || SieveLexer.isDigit($0) || $0 == 0x2E }
    }

    /// Rewrites each "${...}" whose inside `replacement` maps to bytes; the rest stays as written.
    static func replacingReferences(_ s: String, _ replacement: (String) -> [UInt8]?) -> String {
        guard s.contains("${") else { return s }
        let b = Array(s.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == 0x24, i + 1 < b.count, b[i + 1] == 0x7B, let close = b[(i + 2)...].firstIndex(of: 0x7D),
               let replaced = replacement(String(decoding: b[(i + 2)..<close], as: UTF8.self)) {
                out += replaced
                i = close + 1
                continue
            }
            out.append(b[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Replaces ${name} and ${N}; unknown names become "" (RFC 5229 §3); text that is not a
    /// reference stays as written.
    static func expand(_ s: String, lookup: (String) -> String?) -> String {
        replacingReferences(s) { name in
            let isNumber = !name.isEmpty && name.utf8.allSatisfy { SieveLexer.isDigit($0) }
            guard isNumber || isValidName(name) else { return nil }
            return Array((lookup(name.lowercasedASCII()) ?? "").utf8)
        }
    }

    /// RFC 5228 §2.4.2.4 encoded-character: ${hex:41 42} and ${unicode:263a}; malformed
    /// sequences stay as they are.
    static func decodeEncodedCharacters(_ s: String) -> String {
        replacingReferences(s) { inner in
            guard let colon = inner.firstIndex(of: ":") else { return nil }
            let kind = inner[..<colon].lowercasedASCII()
            guard kind == "hex" || kind == "unicode" else { return nil }
            var decoded: [UInt8] = []
            for item in inner[inner.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }) {
                guard let v = UInt32(item, radix: 16) else { return nil }
                if kind == "hex" {
                    guard v <= 0xFF else { return nil }
                    decoded.append(UInt8(v))
                } else {
                    guard let scalar = Unicode.Scalar(v) else { return nil }
                    decoded += Array(String(Character(scalar)).utf8)
                }
            }
            return decoded
        }
    }
}

extension Substring {
    func lowercasedASCII() -> String { String(self).lowercasedASCII() }
}
