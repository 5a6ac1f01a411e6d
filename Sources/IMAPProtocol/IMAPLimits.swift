/// Every bound the IMAP grammar layer enforces on client input.
///
/// The defaults suit a per-connection server on a small machine; each one is documented with the
/// reason for its value. Exceeding any of them gives a tagged BAD or NO (see `IMAPReaderRejection`
/// and `IMAPParseError`), never a crash and never an allocation of the announced size.
public struct IMAPLimits: Sendable, Equatable {
    /// Longest command line (the text between CRLFs and literals), CRLF excluded. 64 KiB: RFC 7162
    /// §4 asks servers to accept lines of at least 8192 octets; long UID sets from resynchronising
    /// clients are the longest legitimate lines.
    public var maxLineLength: Int = 64 * 1024

    /// Largest literal accepted in any command but APPEND (LOGIN passwords, SEARCH strings,
    /// mailbox names). 64 KiB.
    public var maxLiteralSize: Int = 64 * 1024

    /// Largest message literal in APPEND (also `~{n}` literal8). 64 MiB.
    public var maxAppendLiteralSize: Int = 64 * 1024 * 1024

    /// Largest non-synchronising literal `{n+}`. 4096 is LITERAL- (RFC 7888 §4, RFC 9051 §4.3);
    /// a larger one is refused with BAD [TOOBIG] and its octets are skipped. A server that advertises LITERAL+ instead sets this to `maxAppendLiteralSize`.
    public var maxNonSynchronizingLiteralSize: Int = 4096

    /// Largest whole command (lines plus literals) other than APPEND. 1 MiB.
    public var maxCommandSize: Int = 1024 * 1024

    /// Largest whole APPEND command, all MULTIAPPEND messages together (RFC 3502). 256 MiB.
    public var maxAppendCommandSize: Int = 256 * 1024 * 1024

    /// Most literals in one command (MULTIAPPEND sends one per message). 1000.
    public var maxLiteralsPerCommand: Int = 1000

    /// Deepest nesting of parenthesised lists, and of NOT/OR chains in search keys. 32 keeps the
    /// recursive parser's stack use trivially small.
    public var maxNestingDepth: Int = 32

    /// Most items in one parenthesised list (flags, fetch attributes, header names, search keys,
    /// status attributes, ID pairs…). 1000.
    public var maxListItems: Int = 1000

    /// Most comma-separated ranges in one sequence set. 10,000 (a resynchronising client may send
    /// a long sparse UID set; each range costs 12 bytes).
    public var maxSequenceRanges: Int = 10_000

    /// Most numbers in a body section path such as `BODY[1.2.3]`. 32.
    public var maxSectionDepth: Int = 32

    /// The defaults above.
    public init() {}
}
