/// The QRESYNC select parameter (RFC 7162 §3.2.5):
/// `QRESYNC (uidvalidity mod-sequence-value [known-uids [(known-sequence-set known-uid-set)]])`.
public struct IMAPQResyncParameters: Sendable, Equatable {
    public var uidValidity: UInt32
    /// The last HIGHESTMODSEQ the client knew.
    public var modSeq: UInt64
    /// The UIDs the client knows (no `*`, RFC 7162 §3.2.5 `known-uids`); nil: all.
    public var knownUIDs: IMAPSequenceSet?
    /// `seq-match-data`: message numbers and the UIDs the client had for them, in the same order.
    public var sequenceMatch: (sequences: IMAPSequenceSet, uids: IMAPSequenceSet)?

    public init(uidValidity: UInt32, modSeq: UInt64, knownUIDs: IMAPSequenceSet? = nil,
                sequenceMatch: (sequences: IMAPSequenceSet, uids: IMAPSequenceSet)? = nil) {
        self.uidValidity = uidValidity
        self.modSeq = modSeq
        self.knownUIDs = knownUIDs
        self.sequenceMatch = sequenceMatch
    }

    public static func == (a: IMAPQResyncParameters, b: IMAPQResyncParameters) -> Bool {
        a.uidValidity == b.uidValidity && a.modSeq == b.modSeq && a.knownUIDs == b.knownUIDs
            && a.sequenceMatch?.sequences == b.sequenceMatch?.sequences && a.sequenceMatch?.uids == b.sequenceMatch?.uids
    }

    /// The wire form inside the select parameters' parentheses.
    public var description: String {
        var text = "QRESYNC (\(uidValidity) \(modSeq)"
        if let knownUIDs { text += " \(knownUIDs)" }
        if let match = sequenceMatch { text += " (\(match.sequences) \(match.uids))" }
        return text + ")"
    }
}

extension IMAPByteCursor {
    /// `select-params` (RFC 9051 §9, RFC 7162 §3.1.8 CONDSTORE, §3.2.5 QRESYNC) after the
    /// mailbox name's space: `(CONDSTORE)`, `(QRESYNC (…))` or both.
    mutating func parseSelectParameters() throws(IMAPParseError) -> (condStore: Bool, qresync: IMAPQResyncParameters?) {
        try expect(UInt8(ascii: "("), "(")
        var condStore = false
        var qresync: IMAPQResyncParameters?
        repeat {
            let parameter = IMAPGrammar.uppercasedString(try readAtom("a select parameter"))
            switch parameter {
            case "CONDSTORE":
                guard !condStore else { throw error("CONDSTORE given twice") }
                condStore = true
            case "QRESYNC":
                guard qresync == nil else { throw error("QRESYNC given twice") }
                try expectSpace()
                try expect(UInt8(ascii: "("), "(")
                let validity = try readNonZeroNumber("a UIDVALIDITY")
                try expectSpace()
                let modSeq = try readNumber64("a mod-sequence")
                guard modSeq > 0 else { throw error("The mod-sequence must not be 0") }
                var parameters = IMAPQResyncParameters(uidValidity: validity, modSeq: modSeq)
                if consume(UInt8(ascii: " ")) {
                    if peek() == UInt8(ascii: "(") {
                        parameters.sequenceMatch = try parseSequenceMatch()
                    } else {
                        let known = try parseSequenceSet()
                        guard !known.mentionsLargest else { throw error("known-uids may not use *") }
                        parameters.knownUIDs = known
                        if consume(UInt8(ascii: " ")) { parameters.sequenceMatch = try parseSequenceMatch() }
                    }
                }
                try expect(UInt8(ascii: ")"), ")")
                qresync = parameters
            default:
                throw error("Unknown select parameter \(parameter.prefix(32))")
            }
        } while consume(UInt8(ascii: " "))
        try expect(UInt8(ascii: ")"), ")")
        return (condStore, qresync)
    }

    /// `seq-match-data = "(" known-sequence-set SP known-uid-set ")"`.
    mutating func parseSequenceMatch() throws(IMAPParseError) -> (sequences: IMAPSequenceSet, uids: IMAPSequenceSet) {
        try expect(UInt8(ascii: "("), "(")
        let sequences = try parseSequenceSet()
        try expectSpace()
        let uids = try parseSequenceSet()
        try expect(UInt8(ascii: ")"), ")")
        guard !sequences.mentionsLargest, !uids.mentionsLargest else { throw error("seq-match-data may not use *") }
        return (sequences, uids)
    }
}

extension IMAPSequenceSet {
    /// Whether `*` appears.
    var mentionsLargest: Bool { ranges.contains { $0.first == .largest || $0.last == .largest } }
}
