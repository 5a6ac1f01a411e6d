#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// One postamt-remote run: one message, one destination domain, its recipients there.
struct RemoteRun {
    let domain: String
    let indices: [Int]
}

/// Per-destination bookkeeping for remote delivery: how many runs go to each domain, and
/// until when a destination that could not be reached at all is left alone (a short backoff
/// shared by every message to it, so a dead MX is not hammered).
struct RemoteScheduler {
    let perDestination: Int
    let total: Int
    let destinationBackoff: Int64
    let program: String
    var running: [String: Int] = [:]
    var runningTotal = 0
    var blockedUntil: [String: Int64] = [:]
    /// Messages that had due recipients when a limit was reached: ready again when a run ends.
    var waiting: [String] = []

    init(configuration: Configuration) {
        perDestination = max(1, configuration.count("remote_destination_concurrency"))
        total = max(1, configuration.count("remote_concurrency"))
        destinationBackoff = max(1, configuration.duration("remote_destination_backoff"))
        program = configuration.program("postamt-remote")
    }
}

/// What postamt-remote reported (postamt-remote(8)): per recipient r/h/s, then K/Z/D.
public struct RemoteResults: Equatable, Sendable {
    public var recipients: [(Character, String)]
    public var message: (Character, String)?

    public static func == (a: RemoteResults, b: RemoteResults) -> Bool {
        a.recipients.map { "\($0.0)\($0.1)" } == b.recipients.map { "\($0.0)\($0.1)" }
            && a.message?.0 == b.message?.0 && a.message?.1 == b.message?.1
    }

    /// Parses NUL-terminated reports; an unterminated tail (a crash mid-write) is ignored.
    public init(parsing bytes: [UInt8]) {
        recipients = []
        message = nil
        var items = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        items.removeLast()  // after the last NUL: nothing, or an incomplete report
        for item in items {
            guard let c = item.first else { continue }
            let text = String(item.dropFirst())
            switch c {
            case "r", "h", "s": if message == nil { recipients.append((c, text)) }
            case "K", "Z", "D": if message == nil { message = (c, text) }
            default: continue
            }
        }
    }
}

extension QueueRunner {

    static func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return String(address[address.index(after: at)...]).lowercased()
    }

    /// Starts one postamt-remote per destination domain for the due remote recipients of `m`
    /// (all of one domain in one SMTP transaction). Returns whether the state changed and
    /// when to look at the message again.
    func startRemote(_ m: Message, _ indices: [Int], now: Int64) -> (changed: Bool, later: Int64?) {
        var groups: [String: [Int]] = [:]
        var order: [String] = []
        for i in indices {
            let d = QueueRunner.domain(of: m.state.recipients[i].destination?.address ?? "")
            if groups[d] == nil { order.append(d) }
            groups[d, default: []].append(i)
        }
        var later: Int64? = nil
        var changed = false
        for domain in order {
            let group = groups[domain]!
            if let until = remoteScheduler.blockedUntil[domain] {
                if until > now { later = min(later ?? until, until); continue }
                remoteScheduler.blockedUntil[domain] = nil
            }
            if remoteScheduler.runningTotal >= remoteScheduler.total
                || remoteScheduler.running[domain, default: 0] >= remoteScheduler.perDestination {
                if !remoteScheduler.waiting.contains(m.state.id) { remoteScheduler.waiting.append(m.state.id) }
                continue
            }
            if domain.isEmpty {
                for i in group {
                    m.state.recipients[i].attempts += 1
                    m.state.recipients[i].status = .failed
                    m.state.recipients[i].reason = "remote address without a domain (#5.1.3)"
                }
                changed = true
                continue
            }
            let recipients = group.map { m.state.recipients[$0].destination?.address ?? "" }
            do {
                let message = try QueueFile.openMessage(layout.message(m.state.id))
                let pipe = try Pipe()
                var env = RunnerStartup.environment(configuration: configuration) + ["POSTAMT_QUEUE_ID=\(m.state.id)"]
                // postamt-remote(8): DKIM signs only mail whose From: this user owns.
                if let submitter = m.state.submitter { env.append("POSTAMT_SUBMITTER=\(submitter)") }
                // postamt-remote(8) passes DSN parameters on (RFC 3461 §4) in postamt-smtpd's format.
                // REQUIRETLS (RFC 8689) rides along in POSTAMT_DSN, as smtpd passed it to the queue.
                let transactionDSN = [m.state.ret.map { "RET=\($0)" }, m.state.envid.map { "ENVID=\($0)" },
                                      m.state.requireTLS ? "REQUIRETLS" : nil].compactMap { $0 }
                let recipientDSN = group.map { i -> String in
                    let r = m.state.recipients[i]
                    let words = [r.notify.map { "NOTIFY=\($0)" }, r.orcpt.map { "ORCPT=\($0)" }].compactMap { $0 }
                    return words.isEmpty ? "-" : words.joined(separator: " ")
                }
                if !transactionDSN.isEmpty { env.append("POSTAMT_DSN=\(transactionDSN.joined(separator: " "))") }
                if recipientDSN.contains(where: { $0 != "-" }) { env.append("POSTAMT_DSN_RCPT=\(recipientDSN.joined(separator: "\n"))") }
                let pid = try Spawn.start(remoteScheduler.program, arguments: ["postamt-remote", domain, m.state.sender] + recipients,
                                          environment: env, fds: [(0, message.raw), (1, pipe.writeEnd.raw), (2, 2)])
                let readEnd = pipe.keepReadEnd()
                _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
                running[pid] = Running(id: m.state.id, index: group[0], output: readEnd, started: now, pid: pid,
                                       remote: RemoteRun(domain: domain, indices: group))
                m.inFlight += 1
                remoteScheduler.running[domain, default: 0] += 1
                remoteScheduler.runningTotal += 1
                for i in group { m.state.recipients[i].nextAttempt = -1 }
            } catch {
                for i in group {
                    m.state.recipients[i].attempts += 1
                    defer_(m, i, reason: "cannot start postamt-remote: \(error) (#4.3.0)", now: now)
                    if m.state.recipients[i].status == .pending {
                        later = min(later ?? m.state.recipients[i].nextAttempt, m.state.recipients[i].nextAttempt)
                    }
                }
                changed = true
            }
        }
        return (changed, later)
    }

    /// The runner starts postamt-remote itself (as mail_owner; no privileged spawner): it also
    /// reaps those children.
    func reapRemoteRuns() {
        for (pid, r) in running where r.remote != nil && r.status == nil {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { running[pid]?.status = ExitStatus(waitStatus: status) }
        }
    }

    /// Applies a run's reports to each of its recipients.
    func finishRemote(_ run: RemoteRun, running r: Running) {
        remoteScheduler.running[run.domain, default: 1] -= 1
        if remoteScheduler.running[run.domain] == 0 { remoteScheduler.running[run.domain] = nil }
        remoteScheduler.runningTotal -= 1
        for id in remoteScheduler.waiting { markReady(id) }
        remoteScheduler.waiting.removeAll()
        // Deleted by the administrator while the run went on: its results go with it.
        guard let m = messages[r.id] else { return }
        m.inFlight -= 1
        let now = Clock.seconds()
        let delay = String(Double(Int((Clock.secondsDouble() - Double(m.state.arrival)) * 100)) / 100)
        var results = RemoteResults(parsing: r.text)
        if results.message == nil {
            let how = r.status.map { "\($0)" } ?? "unknown status"
            results = RemoteResults(parsing: [])
            results.message = ("Z", "postamt-remote ended without a report (\(how)) (#4.3.0)")
            results.recipients = []
        }
        let (messageResult, messageText) = results.message!
        // Only a message report: nothing reached a transaction (DNS, connection, greeting, TLS).
        let unreachable = results.recipients.isEmpty && messageResult == "Z"
        if unreachable {
            remoteScheduler.blockedUntil[run.domain] = now + remoteScheduler.destinationBackoff
            log.info("destination \(run.domain) is unreachable; mail to it waits \(remoteScheduler.destinationBackoff)s (remote_destination_backoff)", id: m.state.id)
        }
        for (k, index) in run.indices.enumerated() {
            var rs = m.state.recipients[index]
            rs.nextAttempt = 0
            rs.attempts += 1
            m.state.recipients[index] = rs
            var outcome: Character
            var text: String
            if k < results.recipients.count {
                let (c, t) = results.recipients[k]
                switch c {
                case "h": outcome = "D"; text = t
                case "s": outcome = "Z"; text = t
                default: outcome = messageResult; text = messageResult == "K" ? messageText : "\(t); then \(messageText)"
                }
            } else {
                outcome = messageResult
                text = messageText
            }
            let to = "to=<\(rs.destination?.address ?? rs.original)>\(orig(rs)), relay=\(run.domain), delay=\(delay)"
            switch outcome {
            case "K":
                m.state.recipients[index].status = .delivered
                m.state.recipients[index].reason = text
                log.info("\(to), status=sent (\(text))", id: m.state.id)
                // RFC 3461 §5.2.1: the next hop offered DSN and got NOTIFY, so it sends the
                // success notice; only a hop without DSN earns a "relayed" one from us (§5.2.2).
                if DSNParameters.reportsPassedOn(text), m.state.recipients[index].needsSuccessNotice {
                    m.state.recipients[index].successReported = true
                    log.info("\(to): NOTIFY=SUCCESS passed on to a next hop that offers DSN; no success notification from here", id: m.state.id)
                }
            case "D":
                m.state.recipients[index].status = .failed
                m.state.recipients[index].reason = text
                log.info("\(to), status=bounced (\(text))", id: m.state.id)
            default:
                defer_(m, index, reason: text, now: now, relay: run.domain)
                if m.state.recipients[index].status == .pending {
                    var next = m.state.recipients[index].nextAttempt
                    if unreachable { next = max(next, remoteScheduler.blockedUntil[run.domain] ?? next) }
                    m.state.recipients[index].nextAttempt = next
                    timers.push(next, m.state.id)
                }
            }
        }
        completeResult(m)
    }
}
