import MailCore
import MailNet
import MailSystem

/// What postamt-smtpd does on the mx role between accepting a connection and the engine's 220,
/// as Postfix's postscreen does in front of its smtpd (postamt-smtpd(8): PREGREET, DNS LISTS):
///
/// - **Pregreet.** RFC 5321 §4.3.1 and §3.1: the client waits for the greeting before it
///   speaks. With smtpd_greet_wait set, the greeting is two lines: the first (`220-`) at once,
///   the last (`220 `) after the wait. An honest client waits for the last line of a multi-line
///   reply (RFC 5321 §4.2.1); much spamware talks as soon as it sees a line, or does not wait at
///   all. The wait costs every client that much time, which is why it is off by default — and
///   the DNS list lookups run inside it, so they cost nothing more when both are on.
/// - **DNS lists.** The client address is looked up in each of smtpd_dnsbl_sites; when the
///   weights of the lists that name it reach smtpd_dnsbl_threshold, the client is refused:
///   with 521 at once (RFC 7504 lets a server that takes no mail say so and close), or with
///   554 to each RCPT, after the client said who the mail was from and for, as Postfix's smtpd
///   refuses with reject_rbl_client — which the log shows and a false positive can be traced by.
///
/// Trusted clients are not screened.
final class ConnectScreen {
    enum Outcome: Equatable {
        /// Go on: start the engine and feed it what the client said early (if the pregreet
        /// action is ignore).
        case proceed(early: [UInt8])
        /// The client has been told (521) and the connection is to be closed.
        case close
    }

    let settings: ScreeningSettings
    let peer: IPAddress?
    let trusted: Bool
    let log: Log
    /// The lists that named the client, once their weights reached the threshold.
    private(set) var listedBy: [String] = []

    init(settings: ScreeningSettings, peer: IPAddress?, trusted: Bool, log: Log) {
        self.settings = settings
        self.peer = peer
        self.trusted = trusted
        self.log = log
    }

    var client: String { "unknown[\(peer.map { "\($0)" } ?? "unknown")]" }

    /// Runs the checks on the plaintext connection. `greeting` is the engine's 220 text (host
    /// name and smtpd_greeting), sent as the first line of the two.
    func run(stream: any ByteStream, greeting: String) -> Outcome {
        guard !trusted, let peer else { return .proceed(early: []) }
        let started = Clock.monotonicNanoseconds()
        let waits = settings.greetWaitSeconds > 0
        if waits {
            do { try stream.write("220-\(greeting)\r\n") } catch { return .close }
        }
        listedBy = lookUpLists(peer)
        var early: [UInt8] = []
        if waits {
            let left = max(0, settings.greetWaitSeconds * 1_000_000_000 - (Clock.monotonicNanoseconds() - started))
            stream.timeout = .nanoseconds(left)
            do {
                if try stream.read(appendingTo: &early, max: 4096) == 0 {
                    log.info("disconnect from \(client) before the greeting")
                    return .close
                }
            } catch let error as NetError where error.isTimeout {
                // Silent until the last line: the expected case.
            } catch {
                return .close
            }
        }
        if !early.isEmpty {
            let seconds = Double((Clock.monotonicNanoseconds() - started) / 1_000_000) / 1000
            // postscreen's PREGREET line, without the bytes: they could be anything, a password too.
            log.info("\(settings.pregreetDrops ? "reject: " : "")PREGREET \(early.count) after \(seconds)s from \(client)\(settings.pregreetDrops ? ": 521 5.5.1" : "")")
            if settings.pregreetDrops {
                try? stream.write("521 5.5.1 Protocol error\r\n")
                return .close
            }
        }
        if !listedBy.isEmpty && settings.dnsListDrops {
            log.info("reject: CONNECT from \(client): 521 5.7.1 blocked using \(listedBy.joined(separator: ", "))")
            try? stream.write("521 5.7.1 Service unavailable; client [\(peer)] blocked using \(listedBy[0])\r\n")
            return .close
        }
        return .proceed(early: early)
    }

    /// The lists that name `address`, if their weights reach the threshold; else none. A list
    /// that fails to answer names no one (as postscreen and reject_rbl_client treat it).
    func lookUpLists(_ address: IPAddress) -> [String] {
        guard !settings.dnsListSites.isEmpty else { return [] }
        let resolver: DNSResolver
        do {
            resolver = try DNSResolver(nameserver: settings.dnsServer, timeout: .seconds(settings.dnsTimeoutSeconds), attempts: 1)
        } catch {
            log.warning("DNS lists not checked: \(error)")
            return []
        }
        var listed: [String] = []
        var score = 0
        for site in settings.dnsListSites {
            let answer = resolver.a(DNSList.queryName(for: address, in: site.zone))
            if case .temporaryFailure(let reason) = answer { log.warning("DNS list \(site.zone): \(reason)") }
            guard DNSList.isListing(answer) else { continue }
            listed.append(site.zone)
            score += site.weight
            if score >= settings.dnsListThreshold {
                log.info("\(client) listed by \(listed.joined(separator: ", ")) (score \(score), threshold \(settings.dnsListThreshold))")
                return listed
            }
        }
        return []
    }
}
