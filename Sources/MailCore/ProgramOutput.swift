/// What a child program said.
public enum ProgramOutput {
    /// The last non-empty line of a program's output, cut at 500 characters: the text shown
    /// for a failed command or queue program (never used to decide success or failure).
    public static func lastLine(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        var line = lines.last ?? ""
        if line.count > 500 { line = String(line.prefix(500)) }
        return line
    }
}
