#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// What `postamt queue` and `mailq` show and do.
public struct QueueAdmin {
    public let layout: QueueLayout
    public init(layout: QueueLayout) { self.layout = layout }

    public struct Entry {
        public let id: String
        /// "incoming" (not yet picked up), "active", or "hold".
        public let queue: String
        public let arrival: Int64
        public let size: Int64
        public let sender: String
        public let recipients: [(address: String, status: String, reason: String)]
    }

    public struct Failure: Error, CustomStringConvertible {
        public let text: String
        public var description: String { text }
    }

    public func entries() throws(Failure) -> [Entry] {
        var result: [Entry] = []
        let stateNames: [String]
        let incomingNames: [String]
        do {
            stateNames = try FileIO.listDirectory(layout.state)
            incomingNames = try FileIO.listDirectory(layout.incoming)
        } catch {
            throw Failure(text: "cannot read the queue \(layout.root): \(error)")
        }
        var seen: Set<String> = []
        for id in stateNames where QueueLayout.isValidID(id) {
            guard let bytes = try? FileIO.readFile(layout.stateFile(id)), let s = try? MessageState.decode(bytes) else { continue }
            seen.insert(id)
            let rcpts = s.recipients.filter { !$0.isFinal }.map { r in
                (r.destination.map { d -> String in if case .user(_, _, let a) = d { return a }; return d.address } ?? r.original,
                 r.status == .failed ? "failed" : (r.attempts == 0 ? "queued" : "deferred"), r.reason)
            }
            result.append(Entry(id: id, queue: s.held ? "hold" : "active", arrival: s.arrival, size: s.size, sender: s.sender, recipients: rcpts))
        }
        for id in incomingNames where QueueLayout.isValidID(id) && !seen.contains(id) {
            guard let envelope = try? QueueFile.readEnvelope(layout.envelope(id)), let e = try? QueueEnvelope.decode(envelope.record) else { continue }
            result.append(Entry(id: id, queue: "incoming", arrival: e.arrival, size: e.size, sender: e.envelope.sender.text,
                                recipients: e.envelope.recipients.map { ($0.text, "queued", "") }))
        }
        return result.sorted { ($0.arrival, $0.id) < ($1.arrival, $1.id) }
    }

    /// The mailq format (Postfix's): `*` after the id marks active, `!` held.
    public func mailqText() throws(Failure) -> String {
        let list = try entries()
        if list.isEmpty { return "Mail queue is empty\n" }
        var out = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
        var total: Int64 = 0
        for e in list {
            total += e.size
            let mark = e.queue == "hold" ? "!" : (e.queue == "active" ? "*" : " ")
            out += pad(e.id + mark, 12) + leftPad(String(e.size), 9) + " " + arrivalText(e.arrival) + "  " + (e.sender.isEmpty ? "MAILER-DAEMON" : e.sender) + "\n"
            for r in e.recipients {
                if !r.reason.isEmpty { out += String(repeating: " ", count: 41) + "(\(r.reason))\n" }
                out += String(repeating: " ", count: 41) + r.address + "\n"
            }
            out += "\n"
        }
        out += "-- \(max(1, (total + 1023) / 1024)) Kbytes in \(list.count) Request\(list.count == 1 ? "" : "s").\n"
        return out
    }

    /// One JSON object per message and line (like `postqueue -j`).
    public func jsonLines() throws(Failure) -> String {
        var out = ""
        for e in try entries() {
            let rcpts = e.recipients.map { r in
                "{\"address\":\(json(r.address)),\"status\":\(json(r.status))\(r.reason.isEmpty ? "" : ",\"delay_reason\":\(json(r.reason))")}"
            }.joined(separator: ",")
            out += "{\"queue_name\":\(json(e.queue)),\"queue_id\":\(json(e.id)),\"arrival_time\":\(e.arrival),\"message_size\":\(e.size),\"sender\":\(json(e.sender)),\"recipients\":[\(rcpts)]}\n"
        }
        return out
    }

    func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    func leftPad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }

    func arrivalText(_ t: Int64) -> String {
        var tt = time_t(t)
        var tm = Glibc.tm()
        localtime_r(&tt, &tm)
        var buffer = [CChar](repeating: 0, count: 64)
        strftime(&buffer, 64, "%a %b %e %H:%M:%S", &tm)
        return String(cString: buffer)
    }

    /// Is a runner holding the queue lock?
    public func runnerIsActive() -> Bool {
        let fd = open(layout.lockFile, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    /// hold, release or delete: through the runner when it runs (it owns the state files),
    /// else directly on the files, under the runner's lock so no runner starts meanwhile.
    public func command(_ verb: String, ids: [String]) throws(Failure) -> [String] {
        for id in ids where !QueueLayout.isValidID(id) { throw Failure(text: "'\(id)' is not a queue id") }
        let known = Set(try entries().map(\.id))
        let missing = ids.filter { !known.contains($0) }
        if !missing.isEmpty { throw Failure(text: "no such message: \(missing.joined(separator: " "))") }
        if runnerIsActive() {
            guard layout.sendTrigger("\(verb) \(ids.joined(separator: " "))") else {
                throw Failure(text: "the runner does not answer on \(layout.trigger)")
            }
            return ids.map { "\($0): \(verb) requested from the runner" }
        }
        let lock = open(layout.lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o660)
        guard lock >= 0, flock(lock, LOCK_EX | LOCK_NB) == 0 else { throw Failure(text: "cannot lock \(layout.lockFile)") }
        defer { close(lock) }
        if verb == "hold" || verb == "release" {
            // All or nothing: check every id before changing any.
            for id in ids where !FileIO.exists(layout.stateFile(id)) {
                throw Failure(text: "\(id): not picked up by the runner yet; start postamt-runner first")
            }
        }
        var said: [String] = []
        for id in ids {
            switch verb {
            case "delete":
                unlink(layout.stateFile(id)); unlink(layout.envelope(id)); unlink(layout.message(id))
                try? FileIO.fsyncDirectory(layout.state)
                said.append("\(id): deleted")
            case "hold", "release":
                guard let bytes = try? FileIO.readFile(layout.stateFile(id)), var s = try? MessageState.decode(bytes) else {
                    throw Failure(text: "\(id): not picked up by the runner yet; start postamt-runner first")
                }
                s.held = verb == "hold"
                do { try FileIO.writeAtomically(layout.stateFile(id), s.encoded()) } catch { throw Failure(text: "\(id): \(error)") }
                said.append("\(id): \(verb == "hold" ? "held" : "released")")
            default:
                throw Failure(text: "unknown queue command \(verb)")
            }
        }
        return said
    }

    public func flush() -> Bool { layout.sendTrigger("flush") }
}

/// JSON string literal (RFC 8259 §7).
public func json(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
