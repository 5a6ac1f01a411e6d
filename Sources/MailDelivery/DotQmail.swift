import MailCore

/// One instruction of a user's delivery file: `~/.postamt` and `~/.postamt-EXT` use qmail's
/// dot-qmail(5) line types, `~/.forward` uses sendmail's syntax; both become these.
public enum DeliveryInstruction: Equatable, Sendable {
    /// A Maildir (the path ends in "/").
    case maildir(String)
    /// An mbox file.
    case mbox(String)
    /// A program, run with /bin/sh -c as the user.
    case program(String)
    /// Forward to this address (a new queue entry, the sender kept).
    case forward(String)
    /// The user's own default mailbox (`\user` in .forward).
    case defaultMailbox
}

public enum DeliveryFile {
    /// dot-qmail(5) lines: `#` comment, `|prog`, `/path` or `./path` (Maildir when it ends in
    /// "/", else mbox), `&address` or a line starting with a letter or digit: forward.
    /// Relative paths are taken from `home`.
    public static func parseDotQmail(_ text: String, home: String) -> Result<[DeliveryInstruction], ConfigProblem> {
        var out: [DeliveryInstruction] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = String(raw).trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("|") {
                let command = String(line.dropFirst()).trimmingSpaces()
                if command.isEmpty { return .failure(ConfigProblem(file: ".postamt", line: number, message: "empty program line")) }
                out.append(.program(command))
            } else if line.hasPrefix("/") || line.hasPrefix(".") {
                let path = line.hasPrefix("/") ? line : home + "/" + line
                out.append(line.hasSuffix("/") ? .maildir(path) : .mbox(path))
            } else if line.hasPrefix("&") {
                let address = String(line.dropFirst()).trimmingSpaces()
                if !isForwardAddress(address) { return .failure(ConfigProblem(file: ".postamt", line: number, message: "'\(address)' is not an address")) }
                out.append(.forward(address))
            } else if let first = line.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(first) {
                if !isForwardAddress(line) { return .failure(ConfigProblem(file: ".postamt", line: number, message: "'\(line)' is not an address")) }
                out.append(.forward(line))
            } else {
                return .failure(ConfigProblem(file: ".postamt", line: number, message: "unknown line type"))
            }
        }
        return .success(out)
    }

    /// sendmail's ~/.forward: comma or newline separated; `"|cmd"`, `/path`, `\user`, addresses.
    public static func parseForward(_ text: String, home: String, user: String) -> Result<[DeliveryInstruction], ConfigProblem> {
        var lines = ""
        for line in text.split(separator: "\n") where !line.trimmingSpaces().hasPrefix("#") { lines += line + "\n" }
        switch AliasTable.parseTargets(lines) {
        case .failure(let f):
            return .failure(ConfigProblem(file: ".forward", line: 0, message: f.why))
        case .success(let targets):
            var out: [DeliveryInstruction] = []
            for t in targets {
                switch t {
                case .command(let c): out.append(.program(c))
                case .file(let p): out.append(p.hasSuffix("/") ? .maildir(p) : .mbox(p))
                case .mailbox(let name):
                    out.append(name == user ? .defaultMailbox : .forward(name))
                case .address(let a):
                    if !isForwardAddress(a) { return .failure(ConfigProblem(file: ".forward", line: 0, message: "'\(a)' is not an address")) }
                    out.append(.forward(a))
                case .include:
                    return .failure(ConfigProblem(file: ".forward", line: 0, message: ":include: is not allowed in .forward"))
                }
            }
            return .success(out)
        }
    }

    static func isForwardAddress(_ a: String) -> Bool {
        !a.isEmpty && a.count <= 512 && !a.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7F }
    }

    /// qmail-command(8): how a program's exit code counts.
    public enum ProgramResult: Equatable { case success, successStop, permanent, temporary }

    public static func programResult(exitCode: Int32) -> ProgramResult {
        switch exitCode {
        case 0: return .success
        case 99: return .successStop
        case 100, 64, 65, 70, 76, 77, 78, 112: return .permanent
        default: return .temporary
        }
    }
}
