/// A DNS record type (RFC 1035 §3.2.2, RFC 3596).
public struct DNSRecordType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = DNSRecordType(rawValue: 1)
    public static let ns = DNSRecordType(rawValue: 2)
    public static let cname = DNSRecordType(rawValue: 5)
    public static let soa = DNSRecordType(rawValue: 6)
    public static let ptr = DNSRecordType(rawValue: 12)
    public static let mx = DNSRecordType(rawValue: 15)
    public static let txt = DNSRecordType(rawValue: 16)
    public static let aaaa = DNSRecordType(rawValue: 28)
    /// RFC 6698 §7.1.
    public static let tlsa = DNSRecordType(rawValue: 52)

    public var description: String {
        switch self {
        case .a: "A"
        case .ns: "NS"
        case .cname: "CNAME"
        case .soa: "SOA"
        case .ptr: "PTR"
        case .mx: "MX"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        case .tlsa: "TLSA"
        default: "TYPE\(rawValue)"
        }
    }
}

/// The RCODE of a response (RFC 1035 §4.1.1).
public struct DNSResponseCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let noError = DNSResponseCode(rawValue: 0)
    public static let formatError = DNSResponseCode(rawValue: 1)
    public static let serverFailure = DNSResponseCode(rawValue: 2)
    public static let nonexistentDomain = DNSResponseCode(rawValue: 3)
    public static let notImplemented = DNSResponseCode(rawValue: 4)
    public static let refused = DNSResponseCode(rawValue: 5)

    private static let names = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"]

    public var description: String {
        Int(rawValue) < Self.names.count ? Self.names[Int(rawValue)] : "RCODE\(rawValue)"
    }
}

/// Decoded RDATA of the types mail needs; anything else stays raw.
public enum DNSRecordData: Sendable, Equatable {
    case a(IPAddress)
    case aaaa(IPAddress)
    case cname(DNSName)
    case ptr(DNSName)
    case ns(DNSName)
    case mx(preference: UInt16, exchange: DNSName)
    /// The character-strings of one TXT record, in order (RFC 1035 §3.3.14).
    case txt([[UInt8]])
    case other([UInt8])
}

/// One resource record.
public struct DNSResourceRecord: Sendable, Equatable {
    public var name: DNSName
    public var type: DNSRecordType
    public var recordClass: UInt16
    public var ttl: UInt32
    public var data: DNSRecordData
}

/// One question.
public struct DNSQuestion: Sendable, Equatable {
    public var name: DNSName
    public var type: DNSRecordType
    public var questionClass: UInt16
}

/// Why a message could not be parsed; `offset` is where in the message.
public struct DNSWireError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The message ends before the field does.
        case truncated
        /// A label type 0x40 or 0x80 (obsolete/unknown, RFC 6891 §5).
        case badLabelType
        /// A compression pointer that does not point before the name it continues (RFC 1035 §4.1.4 "prior occurrence").
        case pointerNotBackwards
        /// More pointer jumps than a valid name can need.
        case tooManyPointers
        /// A name longer than 255 bytes.
        case nameTooLong
        /// RDATA whose length does not fit its type, or leftover bytes in it.
        case badRecordData
        /// Bytes after the last record.
        case trailingBytes
    }

    public let reason: Reason
    public let offset: Int

    public var description: String { "malformed DNS message at byte \(offset): \(reason)" }
}

/// A parsed DNS message. The parser is strict and bounds-checked: every length is checked
/// against the message, names are decompressed with backwards-only pointers and a jump limit,
/// and a leftover byte anywhere is an error.
public struct DNSMessage: Sendable, Equatable {
    public var id: UInt16
    public var isResponse: Bool
    public var opcode: UInt8
    public var isAuthoritative: Bool
    public var isTruncated: Bool
    public var recursionDesired: Bool
    public var recursionAvailable: Bool
    /// AD (RFC 4035 §3.2.3): the (validating, trusted) resolver says the answer is DNSSEC-secure.
    public var isAuthenticData: Bool
    public var responseCode: DNSResponseCode
    public var questions: [DNSQuestion]
    public var answers: [DNSResourceRecord]
    public var authorities: [DNSResourceRecord]
    public var additionals: [DNSResourceRecord]

    /// A name needs at most 127 labels, so a valid one never needs more jumps than that.
    static let maxPointerJumps = 127

    public init(parsing bytes: [UInt8]) throws(DNSWireError) {
        var reader = DNSWireReader(bytes: bytes)
        id = try reader.uint16()
        let flags = try reader.uint16()
        isResponse = flags & 0x8000 != 0
        opcode = UInt8((flags >> 11) & 0x0F)
        isAuthoritative = flags & 0x0400 != 0
        isTruncated = flags & 0x0200 != 0
        recursionDesired = flags & 0x0100 != 0
        recursionAvailable = flags & 0x0080 != 0
        isAuthenticData = flags & 0x0020 != 0
        responseCode = DNSResponseCode(rawValue: UInt8(flags & 0x000F))
        let questionCount = Int(try reader.uint16())
        let answerCount = Int(try reader.uint16())
        let authorityCount = Int(try reader.uint16())
        let additionalCount = Int(try reader.uint16())
        // Counts come from the peer: never reserve by them; each entry consumes at least 5 bytes,
        // so the loops end at the message's end.
        questions = []
        for _ in 0..<questionCount {
            let name = try reader.name()
            let type = DNSRecordType(rawValue: try reader.uint16())
            let questionClass = try reader.uint16()
            questions.append(DNSQuestion(name: name, type: type, questionClass: questionClass))
        }
        answers = try reader.records(answerCount)
        authorities = try reader.records(authorityCount)
        additionals = try reader.records(additionalCount)
        if reader.offset != bytes.count { throw DNSWireError(reason: .trailingBytes, offset: reader.offset) }
    }

    /// A standard query for `name`/`type` (class IN) with recursion desired.
    /// A query with RD set; with `authenticData` also AD, which asks a validating resolver to
    /// say whether the answer is secure (RFC 6840 §5.7) without the cost of DO and RRSIGs.
    public static func query(id: UInt16, name: DNSName, type: DNSRecordType, authenticData: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, authenticData ? 0x20 : 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.labels {
            bytes.append(UInt8(label.count))
            bytes.append(contentsOf: label)
        }
        bytes.append(0)
        bytes += [UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xFF), 0, 1]
        return bytes
    }

    /// Fuzzing entry point: parses arbitrary bytes; must never trap. True if they parsed.
    @discardableResult
    public static func fuzz(_ bytes: [UInt8]) -> Bool {
        (try? DNSMessage(parsing: bytes)) != nil
    }
}

/// A cursor over a message with bounds-checked reads.
struct DNSWireReader {
    let bytes: [UInt8]
    var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func uint8() throws(DNSWireError) -> UInt8 {
        guard offset < bytes.count else { throw DNSWireError(reason: .truncated, offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint16() throws(DNSWireError) -> UInt16 {
        let high = try uint8()
        return UInt16(high) << 8 | UInt16(try uint8())
    }

    mutating func uint32() throws(DNSWireError) -> UInt32 {
        let high = try uint16()
        return UInt32(high) << 16 | UInt32(try uint16())
    }

    mutating func take(_ count: Int) throws(DNSWireError) -> [UInt8] {
        guard count >= 0, count <= bytes.count - offset else { throw DNSWireError(reason: .truncated, offset: offset) }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Reads a possibly compressed name (RFC 1035 §4.1.4). The cursor ends after the name's bytes
    /// at this position (after the first pointer, if any).
    mutating func name() throws(DNSWireError) -> DNSName {
        var labels: [[UInt8]] = []
        var wireLength = 1
        var position = offset
        var segmentStart = offset
        var jumps = 0
        var resumeOffset: Int? = nil
        while true {
            guard position < bytes.count else { throw DNSWireError(reason: .truncated, offset: position) }
            let length = bytes[position]
            switch length & 0xC0 {
            case 0x00:
                if length == 0 {
                    offset = resumeOffset ?? position + 1
                    return DNSName(uncheckedLabels: labels)
                }
                let labelStart = position + 1
                let labelEnd = labelStart + Int(length)
                guard labelEnd <= bytes.count else { throw DNSWireError(reason: .truncated, offset: position) }
                wireLength += Int(length) + 1
                guard wireLength <= DNSName.maxWireLength else { throw DNSWireError(reason: .nameTooLong, offset: position) }
                labels.append(Array(bytes[labelStart..<labelEnd]))
                position = labelEnd
            case 0xC0:
                guard position + 1 < bytes.count else { throw DNSWireError(reason: .truncated, offset: position) }
                let target = Int(length & 0x3F) << 8 | Int(bytes[position + 1])
                // "A pointer to a prior occurrence of the same name" (RFC 1035 §4.1.4): the target must
                // lie before the labels that led here, so segment starts strictly decrease and no
                // loop is possible; the jump limit bounds the work besides.
                guard target < segmentStart else { throw DNSWireError(reason: .pointerNotBackwards, offset: position) }
                jumps += 1
                guard jumps <= DNSMessage.maxPointerJumps else { throw DNSWireError(reason: .tooManyPointers, offset: position) }
                if resumeOffset == nil { resumeOffset = position + 2 }
                position = target
                segmentStart = target
            default:
                throw DNSWireError(reason: .badLabelType, offset: position)
            }
        }
    }

    mutating func records(_ count: Int) throws(DNSWireError) -> [DNSResourceRecord] {
        var records: [DNSResourceRecord] = []
        for _ in 0..<count { records.append(try record()) }
        return records
    }

    mutating func record() throws(DNSWireError) -> DNSResourceRecord {
        let name = try name()
        let type = DNSRecordType(rawValue: try uint16())
        let recordClass = try uint16()
        let ttl = try uint32()
        let dataLength = Int(try uint16())
        let dataStart = offset
        guard dataLength <= bytes.count - dataStart else { throw DNSWireError(reason: .truncated, offset: dataStart) }
        let dataEnd = dataStart + dataLength
        let data: DNSRecordData
        switch type {
        case .a:
            guard dataLength == 4 else { throw DNSWireError(reason: .badRecordData, offset: dataStart) }
            data = .a(IPAddress(bytes: try take(4))!)
        case .aaaa:
            guard dataLength == 16 else { throw DNSWireError(reason: .badRecordData, offset: dataStart) }
            data = .aaaa(IPAddress(bytes: try take(16))!)
        case .cname, .ptr, .ns:
            let target = try nameInside(dataEnd)
            data = type == .cname ? .cname(target) : type == .ptr ? .ptr(target) : .ns(target)
        case .mx:
            guard dataLength >= 3 else { throw DNSWireError(reason: .badRecordData, offset: dataStart) }
            let preference = try uint16()
            data = .mx(preference: preference, exchange: try nameInside(dataEnd))
        case .txt:
            var strings: [[UInt8]] = []
            while offset < dataEnd {
                let length = Int(try uint8())
                guard length <= dataEnd - offset else { throw DNSWireError(reason: .badRecordData, offset: offset - 1) }
                strings.append(try take(length))
            }
            data = .txt(strings)
        default:
            data = .other(try take(dataLength))
        }
        guard offset == dataEnd else { throw DNSWireError(reason: .badRecordData, offset: dataStart) }
        return DNSResourceRecord(name: name, type: type, recordClass: recordClass, ttl: ttl, data: data)
    }

    /// A name that must end exactly at `dataEnd` (it may point outside the RDATA, backwards).
    private mutating func nameInside(_ dataEnd: Int) throws(DNSWireError) -> DNSName {
        let start = offset
        let name = try name()
        guard offset == dataEnd else { throw DNSWireError(reason: .badRecordData, offset: start) }
        return name
    }
}
