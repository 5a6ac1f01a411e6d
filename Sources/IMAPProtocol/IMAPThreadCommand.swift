/// THREAD (RFC 5256 §4): `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria`.
public struct IMAPThreadCommand: Sendable, Equatable {
    /// `thread-alg`: the two algorithms of RFC 5256 §3.
    public enum Algorithm: String, Sendable, Equatable, CaseIterable {
        case orderedSubject = "ORDEREDSUBJECT"
        case references = "REFERENCES"
    }

    public var algorithm: Algorithm
    /// The mandatory charset, uppercased.
    public var charset: String
    public var key: IMAPSearchKey

    public init(algorithm: Algorithm, charset: String, key: IMAPSearchKey) {
        self.algorithm = algorithm
        self.charset = charset
        self.key = key
    }
}

/// One thread of a `* THREAD` response: a message (nil for the dummy parent that RFC 5256
/// §3 REFERENCES step 5 may leave at the top) and its children.
public struct IMAPThreadNode: Sendable, Equatable {
    public var number: UInt32?
    public var children: [IMAPThreadNode]

    public init(_ number: UInt32?, _ children: [IMAPThreadNode] = []) {
        self.number = number
        self.children = children
    }
}

extension IMAPByteCursor {
    /// `thread-alg SP search-criteria`; `search-criteria = charset 1*(SP search-key)`.
    mutating func parseThreadCommand() throws(IMAPParseError) -> IMAPThreadCommand {
        try expectSpace()
        let name = IMAPGrammar.uppercasedString(try readAtom("a threading algorithm"))
        guard let algorithm = IMAPThreadCommand.Algorithm(rawValue: name) else {
            throw error("Unknown threading algorithm \(name.prefix(32))")
        }
        try expectSpace()
        let charset = try readCharset()
        try expectSpace()
        return IMAPThreadCommand(algorithm: algorithm, charset: charset, key: try parseSearchKeys())
    }
}

extension IMAPResponseEncoder {
    /// `* THREAD (2)(3 6 (4 23)(44 7 96))` (RFC 5256 §4 and §5):
    ///
    ///     thread-list    = "(" (thread-members / thread-nested) ")"
    ///     thread-members = nz-number *(SP nz-number) [SP thread-nested]
    ///     thread-nested  = 2*thread-list
    ///
    /// A message with one child continues its list; with several, each child opens a nested
    /// list. A dummy parent has no number: its list is its children's lists.
    public mutating func thread(_ threads: [IMAPThreadNode]) {
        bytes.append(contentsOf: Array("* THREAD".utf8))
        if !threads.isEmpty { bytes.append(UInt8(ascii: " ")) }
        for node in threads {
            bytes.append(UInt8(ascii: "("))
            writeThreadMembers(node)
            bytes.append(UInt8(ascii: ")"))
        }
        bytes.append(contentsOf: [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
    }

    private mutating func writeThreadMembers(_ start: IMAPThreadNode) {
        // Iterative along a chain of only children, so a long reply chain costs no recursion.
        var node = start
        var first = true
        while true {
            if let number = node.number {
                if !first { bytes.append(UInt8(ascii: " ")) }
                bytes.append(contentsOf: Array(String(number).utf8))
                first = false
            }
            if node.children.count == 1 && node.number != nil {
                node = node.children[0]
                continue
            }
            if !node.children.isEmpty && !first { bytes.append(UInt8(ascii: " ")) }
            for child in node.children {
                bytes.append(UInt8(ascii: "("))
                writeThreadMembers(child)
                bytes.append(UInt8(ascii: ")"))
            }
            return
        }
    }
}
