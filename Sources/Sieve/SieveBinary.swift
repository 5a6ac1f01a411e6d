/// The compiled form on disk: a delivery loads it instead of parsing the script again. Bytes
/// in, bytes out; a file that does not decode (another version, damage) is simply compiled
/// anew by the caller, so this format needs no compatibility promises, only strictness.
///
/// Layout: "PSVB" 1, the parse limits it was checked with, the extensions, the commands; all
/// numbers as LEB128 varints, strings as length + UTF-8, each enum case as one tag byte.
public enum SieveBinary {
    static let magic: [UInt8] = Array("PSVB".utf8) + [1]

    public static func encode(_ script: SieveScript, limits: SieveParseLimits) -> [UInt8] {
        var w = Writer()
        w.bytes += magic
        w.int(limits.maxNesting)
        w.int(limits.maxSize)
        w.strings(script.extensions.sorted())
        w.commands(script.commands)
        return w.bytes
    }

    /// nil unless `bytes` is a complete encoding made under the same limits.
    public static func decode(_ bytes: [UInt8], limits: SieveParseLimits) -> SieveScript? {
        guard bytes.starts(with: magic) else { return nil }
        var r = Reader(bytes: bytes, index: magic.count)
        do {
            guard try r.int() == limits.maxNesting, try r.int() == limits.maxSize else { return nil }
            let extensions = Set(try r.strings())
            let commands = try r.commands(depth: 0)
            guard r.index == bytes.count else { return nil }
            return SieveScript(commands: commands, extensions: extensions)
        } catch {
            return nil
        }
    }

    struct Writer {
        var bytes: [UInt8] = []
        mutating func int(_ v: Int) {
            var u = UInt64(bitPattern: Int64(v))
            repeat {
                let b = UInt8(u & 0x7F)
                u >>= 7
                bytes.append(u == 0 ? b : b | 0x80)
            } while u != 0
        }
        mutating func bool(_ b: Bool) { bytes.append(b ? 1 : 0) }
        mutating func string(_ s: String) { int(s.utf8.count); bytes += s.utf8 }
        mutating func strings(_ list: [String]) { int(list.count); for s in list { string(s) } }
        mutating func optionalString(_ s: String?) { bool(s != nil); if let s { string(s) } }
        mutating func optionalStrings(_ s: [String]?) { bool(s != nil); if let s { strings(s) } }
        mutating func optionalInt(_ v: Int?) { bool(v != nil); if let v { int(v) } }

        mutating func match(_ m: SieveMatch) {
            bytes.append(UInt8(SieveComparator.allCases.firstIndex(of: m.comparator)!))
            switch m.type {
            case .is: bytes.append(0)
            case .contains: bytes.append(1)
            case .matches: bytes.append(2)
            case .count(let r): bytes.append(3); string(r.rawValue)
            case .value(let r): bytes.append(4); string(r.rawValue)
            }
        }
        mutating func index(_ i: SieveIndex?) { bool(i != nil); if let i { int(i.index); bool(i.last) } }
        mutating func part(_ p: SieveAddressPart) { string(p.rawValue) }
        mutating func zone(_ z: SieveDateZone) {
            switch z {
            case .local: bytes.append(0)
            case .original: bytes.append(1)
            case .offset(let o): bytes.append(2); int(o)
            }
        }

        mutating func tests(_ list: [SieveTest]) { int(list.count); for t in list { test(t) } }

        mutating func test(_ t: SieveTest) {
            switch t {
            case .constant(let b): bytes.append(0); bool(b)
            case .not(let x): bytes.append(1); test(x)
            case .allof(let x): bytes.append(2); tests(x)
            case .anyof(let x): bytes.append(3); tests(x)
            case .exists(let n): bytes.append(4); strings(n)
            case .size(let over, let n): bytes.append(5); bool(over); int(n)
            case .header(let n, let k, let m, let i): bytes.append(6); strings(n); strings(k); match(m); index(i)
            case .address(let n, let k, let m, let p, let i): bytes.append(7); strings(n); strings(k); match(m); part(p); index(i)
            case .envelope(let n, let k, let m, let p): bytes.append(8); strings(n); strings(k); match(m); part(p)
            case .string(let s, let k, let m): bytes.append(9); strings(s); strings(k); match(m)
            case .body(let k, let m, let tr):
                bytes.append(10); strings(k); match(m)
                switch tr {
                case .raw: bytes.append(0)
                case .text: bytes.append(1)
                case .content(let c): bytes.append(2); strings(c)
                }
            case .date(let h, let p, let k, let m, let z, let i): bytes.append(11); string(h); string(p); strings(k); match(m); zone(z); index(i)
            case .currentdate(let p, let k, let m, let z): bytes.append(12); string(p); strings(k); match(m); zone(z)
            case .mailboxexists(let n): bytes.append(13); strings(n)
            case .spamtest(let pc, let k, let m): bytes.append(14); bool(pc); string(k); match(m)
            case .virustest(let k, let m): bytes.append(15); string(k); match(m)
            case .duplicate(let h, let hd, let u, let s, let l): bytes.append(16); string(h); optionalString(hd); optionalString(u); optionalInt(s); bool(l)
            case .hasflag(let v, let k, let m): bytes.append(17); strings(v); strings(k); match(m)
            }
        }

        mutating func commands(_ list: [SieveCommand]) { int(list.count); for c in list { command(c) } }

        mutating func command(_ c: SieveCommand) {
            switch c {
            case .conditional(let branches, let otherwise):
                bytes.append(0)
                int(branches.count)
                for (t, block) in branches { test(t); commands(block) }
                bool(otherwise != nil)
                if let otherwise { commands(otherwise) }
            case .stop: bytes.append(1)
            case .keep(let f): bytes.append(2); optionalStrings(f)
            case .discard: bytes.append(3)
            case .fileinto(let m, let f, let copy, let create): bytes.append(4); string(m); optionalStrings(f); bool(copy); bool(create)
            case .redirect(let a, let copy): bytes.append(5); string(a); bool(copy)
            case .reject(let r, let e): bytes.append(6); string(r); bool(e)
            case .vacation(let v):
                bytes.append(7); string(v.reason); optionalString(v.subject); optionalString(v.from)
                strings(v.addresses); bool(v.mime); optionalString(v.handle); optionalInt(v.period)
            case .flags(let a, let v, let f): bytes.append(8); string(a.rawValue); optionalString(v); strings(f)
            case .set(let n, let v, let m): bytes.append(9); string(n); string(v); strings(m)
            case .addheader(let n, let v, let l): bytes.append(10); string(n); string(v); bool(l)
            case .deleteheader(let n, let v, let m, let i): bytes.append(11); string(n); strings(v); match(m); index(i)
            case .include(let n, let g, let o, let opt): bytes.append(12); string(n); bool(g); bool(o); bool(opt)
            case .return: bytes.append(13)
            case .global(let n): bytes.append(14); strings(n)
            }
        }
    }

    struct Bad: Error {}

    struct Reader {
        let bytes: [UInt8]
        var index: Int
        /// Far deeper than any script the parser accepts; bounds a damaged file's recursion.
        static let maxDepth = 256

        mutating func byte() throws -> UInt8 {
            guard index < bytes.count else { throw Bad() }
            defer { index += 1 }
            return bytes[index]
        }
        mutating func int() throws -> Int {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw Bad() }
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            return Int(Int64(bitPattern: v))
        }
        mutating func count() throws -> Int {
            let n = try int()
            guard n >= 0, n <= bytes.count - index else { throw Bad() }
            return n
        }
        mutating func bool() throws -> Bool {
            switch try byte() { case 0: return false; case 1: return true; default: throw Bad() }
        }
        mutating func string() throws -> String {
            let n = try count()
            defer { index += n }
            guard let s = String(validating: bytes[index..<(index + n)], as: UTF8.self) else { throw Bad() }
            return s
        }
        mutating func strings() throws -> [String] { try (0..<count()).map { _ in try string() } }
        mutating func optionalString() throws -> String? { try bool() ? try string() : nil }
        mutating func optionalStrings() throws -> [String]? { try bool() ? try strings() : nil }
        mutating func optionalInt() throws -> Int? { try bool() ? try int() : nil }

        mutating func relation() throws -> SieveRelation {
            guard let r = SieveRelation(rawValue: try string()) else { throw Bad() }
            return r
        }
        mutating func match() throws -> SieveMatch {
            let c = Int(try byte())
            guard c < SieveComparator.allCases.count else { throw Bad() }
            var m = SieveMatch(comparator: SieveComparator.allCases[c])
            switch try byte() {
            case 0: m.type = .is
            case 1: m.type = .contains
            case 2: m.type = .matches
            case 3: m.type = .count(try relation())
            case 4: m.type = .value(try relation())
            default: throw Bad()
            }
            return m
        }
        mutating func sieveIndex() throws -> SieveIndex? { try bool() ? SieveIndex(index: try int(), last: try bool()) : nil }
        mutating func part() throws -> SieveAddressPart {
            guard let p = SieveAddressPart(rawValue: try string()) else { throw Bad() }
            return p
        }
        mutating func zone() throws -> SieveDateZone {
            switch try byte() {
            case 0: return .local
            case 1: return .original
            case 2: return .offset(try int())
            default: throw Bad()
            }
        }

        mutating func tests(depth: Int) throws -> [SieveTest] { try (0..<count()).map { _ in try test(depth: depth) } }

        mutating func test(depth: Int) throws -> SieveTest {
            guard depth < Reader.maxDepth else { throw Bad() }
            let d = depth + 1
            switch try byte() {
            case 0: return .constant(try bool())
            case 1: return .not(try test(depth: d))
            case 2: return .allof(try tests(depth: d))
            case 3: return .anyof(try tests(depth: d))
            case 4: return .exists(try strings())
            case 5: return .size(over: try bool(), try int())
            case 6: return .header(names: try strings(), keys: try strings(), try match(), try sieveIndex())
            case 7: return .address(names: try strings(), keys: try strings(), try match(), try part(), try sieveIndex())
            case 8: return .envelope(parts: try strings(), keys: try strings(), try match(), try part())
            case 9: return .string(sources: try strings(), keys: try strings(), try match())
            case 10:
                let keys = try strings(), m = try match()
                switch try byte() {
                case 0: return .body(keys: keys, m, .raw)
                case 1: return .body(keys: keys, m, .text)
                case 2: return .body(keys: keys, m, .content(try strings()))
                default: throw Bad()
                }
            case 11: return .date(header: try string(), part: try string(), keys: try strings(), try match(), try zone(), try sieveIndex())
            case 12: return .currentdate(part: try string(), keys: try strings(), try match(), try zone())
            case 13: return .mailboxexists(try strings())
            case 14: return .spamtest(percent: try bool(), key: try string(), try match())
            case 15: return .virustest(key: try string(), try match())
            case 16: return .duplicate(handle: try string(), header: try optionalString(), uniqueID: try optionalString(), seconds: try optionalInt(), last: try bool())
            case 17: return .hasflag(variables: try strings(), keys: try strings(), try match())
            default: throw Bad()
            }
        }

        mutating func commands(depth: Int) throws -> [SieveCommand] { try (0..<count()).map { _ in try command(depth: depth) } }

        mutating func command(depth: Int) throws -> SieveCommand {
            guard depth < Reader.maxDepth else { throw Bad() }
            let d = depth + 1
            switch try byte() {
            case 0:
                var branches: [(SieveTest, [SieveCommand])] = []
                for _ in 0..<(try count()) { branches.append((try test(depth: d), try commands(depth: d))) }
                return .conditional(branches, otherwise: try bool() ? try commands(depth: d) : nil)
            case 1: return .stop
            case 2: return .keep(flags: try optionalStrings())
            case 3: return .discard
            case 4: return .fileinto(mailbox: try string(), flags: try optionalStrings(), copy: try bool(), create: try bool())
            case 5: return .redirect(address: try string(), copy: try bool())
            case 6: return .reject(reason: try string(), extended: try bool())
            case 7:
                var v = SieveVacationCommand(reason: try string())
                v.subject = try optionalString()
                v.from = try optionalString()
                v.addresses = try strings()
                v.mime = try bool()
                v.handle = try optionalString()
                v.period = try optionalInt()
                return .vacation(v)
            case 8:
                guard let a = SieveFlagAction(rawValue: try string()) else { throw Bad() }
                return .flags(a, variable: try optionalString(), try strings())
            case 9: return .set(name: try string(), value: try string(), modifiers: try strings())
            case 10: return .addheader(name: try string(), value: try string(), last: try bool())
            case 11: return .deleteheader(name: try string(), values: try strings(), try match(), try sieveIndex())
            case 12: return .include(name: try string(), global: try bool(), once: try bool(), optional: try bool())
            case 13: return .return
            case 14: return .global(try strings())
            default: throw Bad()
            }
        }
    }
}
