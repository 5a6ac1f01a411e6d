#if canImport(Glibc)
import Glibc
#endif
import MailCodec
import MailCore
import MailDKIM
import MailNet
import MailQueueStore
import MailSystem
import SMTPProtocol

/// STARTTLS policy for one destination (remote_tls_policy, remote_tls_policy_map).
public enum RemoteTLSPolicy: String, Sendable, Comparable {
    /// Never STARTTLS.
    case none
    /// STARTTLS when offered; on a failed handshake the host is tried again without TLS.
    case may
    /// TLS required, any certificate.
    case encrypt
    /// TLS required with a certificate that verifies for the host name.
    case verify

    var rank: Int { switch self { case .none: 0; case .may: 1; case .encrypt: 2; case .verify: 3 } }
    public static func < (a: RemoteTLSPolicy, b: RemoteTLSPolicy) -> Bool { a.rank < b.rank }

    /// The policy for `domain`: the map's entry, else the global one.
    public static func forDestination(_ domain: String, configuration: Configuration) -> RemoteTLSPolicy {
        let d = domain.lowercased()
        for entry in configuration.list("remote_tls_policy_map") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0].lowercased() == d, let p = RemoteTLSPolicy(rawValue: parts[1]) { return p }
        }
        return RemoteTLSPolicy(rawValue: configuration.string("remote_tls_policy")) ?? .may
    }
}

/// One postamt-remote run: route the destination, talk SMTP to its hosts in order until one
/// takes the transaction, and report per recipient.
public final class RemoteDelivery {
    let configuration: Configuration
    let log: Log
    let queueID: String?
    let destination: String
    let sender: String
    let recipients: [String]
    let original: [UInt8]
    let connectTimeout: Duration
    let greetingTimeout: Duration
    let commandTimeout: Duration
    let dataTimeout: Duration
    let isSmarthost: Bool
    let policy: RemoteTLSPolicy
    var prepared: [Bool: [UInt8]] = [:]
    var dkimLogged = false
    /// The user who submitted the message (POSTAMT_SUBMITTER from the runner), nil for mail
    /// relayed from outside: only a submitter's own From: is DKIM-signed.
    let submitter: String?
    /// RFC 3461 parameters to pass on when the next hop offers DSN.
    let dsn: DSNParameters?
    /// MAIL FROM … REQUIRETLS (RFC 8689 §5): only over TLS with a verified certificate (DANE or
    /// PKIX, which MTA-STS also asks for), and only to a next hop that offers REQUIRETLS.
    let requireTLS: Bool
    /// "TLS-Required: No" (RFC 8689 §4.3) and no REQUIRETLS: the recipient domain's TLS
    /// policies (MTA-STS, DANE) are not applied to this message.
    let recipientPoliciesIgnored: Bool
    /// Where the TLS-RPT results go (tlsrpt_directory); nil for a smarthost or when unset.
    var tlsReports: TLSReportStore?

    public init(configuration: Configuration, log: Log, queueID: String?, destination: String, sender: String,
                recipients: [String], message: [UInt8], submitter: String? = nil, dsn: DSNParameters? = nil) {
        self.configuration = configuration
        self.dsn = dsn
        requireTLS = dsn?.requireTLS ?? false
        // RFC 8689 §4.1: with REQUIRETLS on MAIL the header field is ignored.
        let header = DKIMMessage(crlfMessage: DKIMMessage.normalizingLineEnds(message)).value(of: "tls-required")
        recipientPoliciesIgnored = !requireTLS && header?.lowercased() == "no"
        self.submitter = submitter
        self.log = log
        self.queueID = queueID
        self.destination = destination
        self.sender = sender
        self.recipients = recipients
        self.original = message
        connectTimeout = .seconds(max(1, configuration.duration("remote_connect_timeout")))
        greetingTimeout = .seconds(max(1, configuration.duration("remote_greeting_timeout")))
        commandTimeout = .seconds(max(1, configuration.duration("remote_command_timeout")))
        dataTimeout = .seconds(max(1, configuration.duration("remote_data_timeout")))
        isSmarthost = !configuration.string("relayhost").isEmpty
        var p = RemoteTLSPolicy.forDestination(destination, configuration: configuration)
        // A smarthost gets our password: never without TLS.
        if isSmarthost { p = max(p, .encrypt) }
        if requireTLS { p = .verify }
        policy = p
        let dir = configuration.string("tlsrpt_directory")
        tlsReports = isSmarthost || dir.isEmpty ? nil : TLSReportStore(directory: dir)
    }

    /// Runs the delivery; never throws: every failure becomes a report.
    public func run() -> RemoteReport {
        let domain = destination.lowercased()
        if configuration.isLocal(domain: domain) {
            return RemoteReport(message: (.temporary, "\(destination) is a local domain; it is never delivered remotely (#4.3.5)"))
        }
        let needsUTF8 = ([sender] + recipients).contains { $0.utf8.contains { $0 >= 0x80 } }
        let resolver: DNSResolver
        let useDANE = configuration.bool("dane") && !isSmarthost && !recipientPoliciesIgnored
        if recipientPoliciesIgnored {
            // RFC 8689 §4.3: the sender asked that recipient-supplied TLS policies not keep the
            // message back; STARTTLS is still tried, and our own remote_tls_policy still holds.
            log.info("TLS-Required: No: MTA-STS and DANE are not applied to this message", id: queueID)
        }
        if requireTLS { log.info("REQUIRETLS: TLS with a verified certificate and a next hop that offers REQUIRETLS", id: queueID) }
        do {
            var ns = configuration.string("remote_nameserver")
            // DANE trusts the AD bit only from a validating resolver we trust (RFC 7672 §2.1,
            // Postfix's smtp_dns_support_level = dnssec): all routing lookups then go through it.
            if useDANE, !configuration.string("dane_nameserver").isEmpty { ns = configuration.string("dane_nameserver") }
            resolver = try DNSResolver(nameserver: ns.isEmpty ? nil : ns,
                                       timeout: .seconds(max(1, configuration.duration("remote_dns_timeout"))))
            resolver.requestsAuthenticData = useDANE
        } catch {
            return RemoteReport(message: (.temporary, "cannot set up the DNS resolver: \(error) (#4.3.0)"))
        }
        let port = UInt16(clamping: configuration.count("remote_smtp_port"))
        let router = RemoteRouter(resolver: resolver, port: port, myHostname: configuration.hostname,
                                  hostLimit: configuration.count("remote_host_limit"))
        let target = isSmarthost ? configuration.string("relayhost") : destination
        var hosts: [RemoteHost]
        switch router.route(target) {
        case .permanent(let why): return RemoteReport(message: (.permanent, why))
        case .temporary(let why): return RemoteReport(message: (.temporary, why))
        case .hosts(let h): hosts = h
        }
        var hostPolicy = policy
        var stsMode: MTASTSMode = .none
        var dane: [String: DANEState] = [:]
        if useDANE {
            for host in hosts where host.secure && dane[host.name] == nil {
                dane[host.name] = daneState(host, resolver: resolver)
            }
        }
        // RFC 8461 §2: where DANE TLSA records exist, DANE wins over MTA-STS.
        let daneApplies = dane.values.contains { if case .none = $0 { false } else { true } }
        // What the sessions report (RFC 8460 §4.4): the MTA-STS policy when one applies, else
        // no-policy-found; DANE hosts report their own TLSA policy below.
        var domainReport = TLSReportPolicy.none(domain)
        // MTA-STS (RFC 8461) applies to MX delivery by domain, not to a smarthost or an address literal.
        let stsLookup = !isSmarthost && !daneApplies && !recipientPoliciesIgnored && !target.hasPrefix("[") && configuration.bool("mta_sts")
            ? MTASTSLookup(resolver: resolver, configuration: configuration, log: log, queueID: queueID).policy(for: domain) : .none
        if case .fetchFailed(let error) = stsLookup {
            // RFC 8461 §5: with no cached policy the mail goes as without one, but the domain
            // learns of the failure: a result of its own (RFC 8460 §4.3.2.2), no MX host.
            recordTLS(nil, policy: TLSReportPolicy(type: "sts", domain: domain), result: error.resultType)
        }
        if case .policy(let sts, let source) = stsLookup {
            stsMode = sts.mode
            domainReport = .sts(domain, sts)
            let outside = hosts.filter { !sts.allows(mxHost: $0.name) }
            switch sts.mode {
            case .enforce:
                for name in Set(outside.map(\.name)).sorted() {
                    log.info("MTA-STS: \(name) is not an MX host the policy of \(domain) allows (\(source)); skipped", id: queueID)
                }
                for host in outside { recordTLS(host, policy: domainReport, result: "validation-failure") }
                hosts = hosts.filter { sts.allows(mxHost: $0.name) }
                guard !hosts.isEmpty else {
                    return RemoteReport(message: (.temporary, "no MX host of \(domain) matches its MTA-STS policy (mx: \(sts.mx.joined(separator: ", "))) (#4.7.5)"))
                }
                // RFC 8461 §4.2: TLS with a certificate valid for the MX name, no fallback.
                hostPolicy = max(policy, .verify)
            case .testing:
                for name in Set(outside.map(\.name)).sorted() {
                    log.info("MTA-STS (testing): \(name) is not an MX host the policy of \(domain) allows (\(source)); enforce would skip it", id: queueID)
                }
            case .none:
                break
            }
        }
        var lastFailure = "no host to try (#4.4.1)"
        var permanentEverywhere = true
        for (index, host) in hosts.enumerated() {
            var thisPolicy = hostPolicy
            var tlsa: [TLSARecord]? = nil
            var report = domainReport
            switch dane[host.name] ?? .none {
            case .none: break
            case .records(let usable, let all):
                tlsa = usable
                report = .tlsa(host.name, all)
                thisPolicy = max(thisPolicy, .encrypt)
            case .unusable(let all):
                // RFC 7672 §2.2: TLSA records exist but none is usable: TLS, unauthenticated.
                report = .tlsa(host.name, all)
                thisPolicy = max(thisPolicy, .encrypt)
            case .failed(let why):
                recordTLS(host, policy: TLSReportPolicy(type: "tlsa", domain: host.name), result: "dnssec-invalid")
                // RFC 7672 §2.2.1: a failed TLSA lookup (bogus, SERVFAIL) must not lead to plaintext.
                let failure = "TLSA lookup for \(host.name) failed (\(why)); DANE forbids delivery to it without them (#4.7.5)"
                log.info("\(host.name)[\(host.address.address)]: \(failure)", id: queueID)
                lastFailure = failure
                permanentEverywhere = false
                continue
            }
            var withoutTLS = thisPolicy == .none
            while true {
                let outcome = attempt(host, policy: thisPolicy, stsMode: stsMode, tlsa: tlsa, report: report,
                                      withoutTLS: withoutTLS, needsUTF8: needsUTF8)
                switch outcome {
                case .report(let report):
                    return report
                case .retryWithoutTLS(let why):
                    log.info("\(host.name)[\(host.address.address)]: STARTTLS failed (\(why)); trying again without TLS (policy may)", id: queueID)
                    withoutTLS = true
                    continue
                case .nextHost(let failure, let permanent):
                    log.info("\(host.name)[\(host.address.address)]: \(failure)", id: queueID)
                    lastFailure = failure
                    if !permanent { permanentEverywhere = false }
                    // RFC 5321 §5.1: a 5xx greeting only ends the attempt at the last host.
                    if index == hosts.count - 1 && permanent && permanentEverywhere {
                        return RemoteReport(message: (.permanent, failure))
                    }
                }
                break
            }
        }
        return RemoteReport(message: (.temporary, lastFailure))
    }

    enum Outcome {
        case report(RemoteReport)
        case nextHost(String, permanent: Bool)
        case retryWithoutTLS(String)
    }

    /// What DANE says about one MX host (RFC 7672 §2.2).
    enum DANEState {
        /// No secure TLSA records: the other policies decide.
        case none
        /// Usable DANE-TA/DANE-EE records: TLS that matches one of them, or no delivery. `all`
        /// is the whole RRset, for the TLS report.
        case records(usable: [TLSARecord], all: [TLSARecord])
        /// Secure TLSA records, none usable: TLS required, unauthenticated.
        case unusable([TLSARecord])
        /// The lookup failed (SERVFAIL for bogus data, timeout): the host is not tried.
        case failed(String)
    }

    func daneState(_ host: RemoteHost, resolver: DNSResolver) -> DANEState {
        let name = "_\(host.address.port)._tcp.\(host.name)"
        let result = resolver.tlsa(name)
        let secure = resolver.lastAnswerAuthenticated
        switch result {
        case .found(let records):
            guard secure else { return .none }
            let usable = records.filter(\.isUsableForSMTP)
            log.info("DANE: \(name): \(records.count) TLSA record\(records.count == 1 ? "" : "s"), \(usable.count) usable", id: queueID)
            return usable.isEmpty ? .unusable(records) : .records(usable: usable, all: records)
        case .temporaryFailure(let why):
            return .failed(why)
        default:
            return .none
        }
    }

    /// Postfix's words for a TLS connection's trust, for people who grep for them.
    static func trustWord(_ verification: TLSPeerVerification, dane: TLSARecord?) -> String {
        if dane != nil { return "Verified" }
        switch verification {
        case .verified: return "Verified"
        case .failed(let why) where why.contains("hostname mismatch"): return "Trusted"
        default: return "Untrusted"
        }
    }

    /// Records one session for TLS reporting (RFC 8460), for MX delivery only, under the policy
    /// it applied (whose text is stored once a day). `host` is nil for a policy that failed
    /// before any MX host (an MTA-STS fetch). `connection` is the session's socket: its local
    /// address is the report's sending-mta-ip (§4.3); nil when the host was ruled out before
    /// any connection.
    func recordTLS(_ host: RemoteHost?, policy report: TLSReportPolicy, result: String, connection: PlainStream? = nil) {
        guard tlsReports != nil else { return }
        let local = connection.flatMap { SocketAddress.local(ofSocket: $0.readFD) }?.address.description ?? ""
        let r = TLSSessionResult(policyType: report.type, policyDomain: report.domain, mxHost: host?.name.lowercased() ?? "",
                                 receivingIP: host?.address.address.description ?? "", result: result, sendingIP: local)
        do { try tlsReports!.record(r, policy: report) } catch {
            log.warning("cannot record the TLS result in \(tlsReports!.directory): \(error)", id: queueID)
        }
    }

    func attempt(_ host: RemoteHost, policy: RemoteTLSPolicy, stsMode: MTASTSMode = .none, tlsa: [TLSARecord]? = nil,
                 report: TLSReportPolicy, withoutTLS: Bool, needsUTF8: Bool) -> Outcome {
        let peer = "\(host.name)[\(host.address.address)]"
        let plain: PlainStream
        do {
            plain = try PlainStream.connect(to: host.address, timeout: connectTimeout)
        } catch {
            return .nextHost("cannot connect to \(peer): \(error) (#4.4.1)", permanent: false)
        }
        defer { plain.close() }
        let session = SMTPClientSession(plain: plain, peer: peer, commandTimeout: commandTimeout)
        let me = configuration.hostname
        do throws(SMTPClientFailure) {
            let greeting = try session.readReply(timeout: greetingTimeout, stage: .greeting)
            guard greeting.isPositive else {
                session.quit()
                return .nextHost(session.said(greeting, after: "the greeting"), permanent: greeting.isPermanentFailure)
            }
            try session.hello(me)
            var tlsNote = "none"
            if !withoutTLS, session.capabilities?.startTLS == true {
                let reply = try session.command("STARTTLS", stage: .startTLS)
                if reply.isPositive {
                    // RFC 3207 §4.2: anything the server sent before the handshake is discarded.
                    session.pending.removeAll()
                    session.leftover.removeAll()
                    session.parser = SMTPReplyParser()
                    do {
                        let context = try makeTLSContext(tlsa != nil ? .encrypt : policy, dane: tlsa != nil)
                        let tls = try TLSConnection(client: context, serverName: host.name, over: plain)
                        if let tlsa { try tls.enableDANE(baseDomain: host.name, records: tlsa) }
                        tls.timeout = commandTimeout
                        try tls.handshake()
                        session.stream = tls
                        let match = tlsa != nil ? tls.daneMatch : nil
                        if tlsa != nil && match == nil {
                            recordTLS(host, policy: report, result: "validation-failure", connection: plain)
                            return .nextHost("TLS certificate of \(peer) matches none of its DANE TLSA records (#4.7.5)", permanent: false)
                        }
                        switch tls.peerVerification {
                        case _ where match != nil: tlsNote = "verified (\(tls.protocolVersion), \(tls.cipherName); DANE \(match!))"
                        case .verified: tlsNote = "verified (\(tls.protocolVersion), \(tls.cipherName))"
                        case .failed(let why): tlsNote = "unverified (\(tls.protocolVersion), \(tls.cipherName); \(why))"
                        case .notChecked: tlsNote = "unverified (\(tls.protocolVersion), \(tls.cipherName))"
                        }
                        log.info("\(RemoteDelivery.trustWord(tls.peerVerification, dane: match)) TLS connection established to \(peer): \(tls.protocolVersion) with cipher \(tls.cipherName)", id: queueID)
                        if policy == .verify, match == nil, case .failed(let reason) = tls.peerVerification {
                            recordTLS(host, policy: report, result: TLSSessionResult.certificateFailure(reason), connection: plain)
                        }
                        if policy == .verify, match == nil, tls.peerVerification != .verified {
                            let why = stsMode == .enforce ? "the MTA-STS policy of \(destination) is enforce" : "the TLS policy is verify"
                            return .nextHost("TLS certificate of \(peer) does not verify and \(why) (#4.7.5)", permanent: false)
                        }
                        if stsMode == .testing, tls.peerVerification != .verified {
                            log.info("MTA-STS (testing): the certificate of \(peer) does not verify; enforce would defer", id: queueID)
                        }
                    } catch {
                        if stsMode == .testing { log.info("MTA-STS (testing): TLS with \(peer) failed; enforce would defer", id: queueID) }
                        recordTLS(host, policy: report, result: "validation-failure", connection: plain)
                        if tlsa != nil { return .nextHost("TLS handshake with \(peer) failed: \(error); DANE requires TLS (#4.7.5)", permanent: false) }
                        if policy == .may { return .retryWithoutTLS("\(error)") }
                        return .nextHost("TLS handshake with \(peer) failed: \(error) (#4.7.5)", permanent: false)
                    }
                    session.capabilities = nil
                    try session.hello(me)
                } else if policy >= .encrypt {
                    session.quit()
                    return .nextHost(session.said(reply, after: "STARTTLS") + "; TLS is required (#4.7.5)", permanent: false)
                }
            } else if policy >= .encrypt {
                session.quit()
                recordTLS(host, policy: report, result: "starttls-not-supported", connection: plain)
                let why = tlsa != nil ? "DANE (its TLSA records)" : stsMode == .enforce ? "the MTA-STS policy of \(destination)" : "the TLS policy for \(destination)"
                return .nextHost("\(peer) does not offer STARTTLS and \(why) requires TLS (#4.7.5)", permanent: false)
            } else if !withoutTLS {
                recordTLS(host, policy: report, result: "starttls-not-supported", connection: plain)
                if stsMode == .testing { log.info("MTA-STS (testing): \(peer) does not offer STARTTLS; enforce would defer", id: queueID) }
            }
            if session.stream is TLSConnection {
                let verifiedEnough = policy != .verify && stsMode != .testing
                    || (session.stream as? TLSConnection).map { $0.peerVerification == .verified || tlsa != nil } ?? false
                recordTLS(host, policy: report, result: verifiedEnough ? "success" : TLSSessionResult.certificateFailure(tlsNote), connection: plain)
            }
            log.info("\(peer): tls=\(tlsNote)" + (stsMode == .none ? "" : " mta-sts=\(stsMode.rawValue)"), id: queueID)
            // RFC 8689 §4.2.1: the next hop must offer REQUIRETLS (after TLS, where it is
            // announced); if no MX host does, the message bounces with 5.7.30 (§5). That is
            // permanent only when every host said so: a TLS failure elsewhere stays temporary.
            if requireTLS, session.capabilities?.supports("REQUIRETLS") != true {
                session.quit()
                return .nextHost("\(peer) does not offer REQUIRETLS, which the sender required (RFC 8689) (#5.7.30)", permanent: true)
            }
            if isSmarthost, let failure = try authenticate(session) {
                return failure
            }
            return .report(try transaction(session, peer: peer, needsUTF8: needsUTF8))
        } catch {
            if error.stage == .transaction {
                return .report(RemoteReport(message: (.temporary, error.text)))
            }
            return .nextHost(error.reply.map { session.said($0, after: "\(error.stage)") } ?? error.text, permanent: false)
        }
    }

    func makeTLSContext(_ policy: RemoteTLSPolicy, dane: Bool = false) throws -> TLSClientContext {
        let ca = configuration.string("remote_tls_ca_file")
        let anchors: TLSTrustAnchors = ca.isEmpty ? .systemDefault : .caFile(ca)
        return try TLSClientContext(verification: policy == .verify ? .peer(anchors) : .opportunistic(anchors), dane: dane)
    }

    /// AUTH PLAIN (RFC 4616) or LOGIN at the smarthost, with "user password" from
    /// relayhost_auth_file. Nothing of it is logged.
    func authenticate(_ session: SMTPClientSession) throws(SMTPClientFailure) -> Outcome? {
        let path = configuration.string("relayhost_auth_file")
        guard !path.isEmpty else { return nil }
        guard let bytes = (try? FileIO.readFile(path, limit: 4096)) ?? nil else {
            return .report(RemoteReport(message: (.temporary, "cannot read relayhost_auth_file \(path) (#4.3.5)")))
        }
        let line = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == "\n" }).first ?? ""
        let parts = line.trimmingSpaces().split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            return .report(RemoteReport(message: (.temporary, "relayhost_auth_file \(path) is not 'user password' (#4.3.5)")))
        }
        let mechanisms = session.capabilities?.authenticationMechanisms ?? []
        var reply: SMTPReply
        if mechanisms.contains("PLAIN") {
            let token = Base64.encode(Array(("\0" + parts[0] + "\0" + parts[1]).utf8))
            try session.send(Array("AUTH PLAIN \(token)\r\n".utf8), stage: .auth)
            reply = try session.readReply(stage: .auth)
        } else if mechanisms.contains("LOGIN") {
            reply = try session.command("AUTH LOGIN", stage: .auth)
            if reply.code == 334 {
                try session.send(Array((Base64.encode(Array(parts[0].utf8)) + "\r\n").utf8), stage: .auth)
                reply = try session.readReply(stage: .auth)
                if reply.code == 334 {
                    try session.send(Array((Base64.encode(Array(parts[1].utf8)) + "\r\n").utf8), stage: .auth)
                    reply = try session.readReply(stage: .auth)
                }
            }
        } else {
            return .report(RemoteReport(message: (.temporary, "\(session.peer) offers neither AUTH PLAIN nor AUTH LOGIN (#4.7.0)")))
        }
        guard reply.isPositive else {
            // A wrong password is our configuration's fault: keep the mail.
            return .report(RemoteReport(message: (.temporary, session.said(reply, after: "AUTH") + " (#4.7.0)")))
        }
        log.info("\(session.peer): authenticated as \(parts[0])", id: queueID)
        return nil
    }

    func transaction(_ session: SMTPClientSession, peer: String, needsUTF8: Bool) throws(SMTPClientFailure) -> RemoteReport {
        let caps = session.capabilities ?? SMTPCapabilities(ehloReply: SMTPReply(250, nil, "x"))!
        if needsUTF8 && !caps.smtpUTF8 {
            session.quit()
            return RemoteReport(message: (.permanent, "an address of this message needs SMTPUTF8 (RFC 6531), which \(peer) does not offer (#5.6.7)"))
        }
        let eightBit = original.contains { $0 >= 0x80 }
        let message = prepare(sevenBit: eightBit && !caps.eightBitMIME)
        if let limit = caps.maximumMessageSize, limit > 0, UInt64(message.count) > limit {
            session.quit()
            return RemoteReport(message: (.permanent, "message of \(message.count) bytes exceeds the size limit of \(limit) bytes that \(peer) announced (#5.3.4)"))
        }
        var mail = "MAIL FROM:<\(sender)>"
        if caps.maximumMessageSize != nil { mail += " SIZE=\(message.count)" }
        if eightBit && caps.eightBitMIME { mail += " BODY=8BITMIME" }
        if needsUTF8 { mail += " SMTPUTF8" }
        if requireTLS { mail += " REQUIRETLS" }
        // RFC 3461 §4: the DSN parameters travel on to a next hop that offers DSN.
        let passDSN = caps.dsn && dsn.map { !$0.isEmpty } == true
        if passDSN, let dsn {
            if let ret = dsn.ret { mail += " RET=\(ret)" }
            if let envid = dsn.envid { mail += " ENVID=\(envid)" }
        }
        var results: [(RemoteReport.RecipientResult, String)] = []
        // RFC 2920: with PIPELINING, MAIL and every RCPT go in one write; DATA waits for their replies.
        let commands = [mail] + recipients.enumerated().map { i, rcpt in
            var command = "RCPT TO:<\(rcpt)>"
            if passDSN, let dsn, i < dsn.recipients.count {
                if let notify = dsn.recipients[i].notify { command += " NOTIFY=\(notify)" }
                if let orcpt = dsn.recipients[i].orcpt { command += " ORCPT=\(orcpt)" }
            }
            return command
        }
        var replies: [SMTPReply] = []
        if caps.pipelining {
            try session.send(Array(commands.map { $0 + "\r\n" }.joined().utf8), stage: .transaction)
            for _ in commands { replies.append(try session.readReply(stage: .transaction)) }
        } else {
            for c in commands {
                let r = try session.command(c, stage: .transaction)
                replies.append(r)
                if replies.count == 1 && !r.isPositive { break }
            }
        }
        let mailReply = replies[0]
        if !mailReply.isPositive {
            session.quit()
            let text = session.said(mailReply, after: "MAIL FROM")
            return RemoteReport(recipients: recipients.map { _ in (mailReply.isPermanentFailure ? .permanent : .temporary, text) },
                                message: (mailReply.isPermanentFailure ? .permanent : .temporary, text))
        }
        for (i, rcpt) in recipients.enumerated() {
            let r = replies[i + 1]
            let text = session.said(r, after: "RCPT TO:<\(rcpt)>")
            results.append((r.isPositive ? .accepted : r.isPermanentFailure ? .permanent : .temporary, text))
        }
        guard results.contains(where: { $0.0 == .accepted }) else {
            session.quit()
            let allPermanent = results.allSatisfy { $0.0 == .permanent }
            return RemoteReport(recipients: results, message: (allPermanent ? .permanent : .temporary, "no recipient was accepted by \(peer)"))
        }
        let data = try session.command("DATA", stage: .transaction)
        guard data.code == 354 else {
            session.quit()
            let text = session.said(data, after: "DATA")
            return RemoteReport(recipients: results, message: (data.isPermanentFailure ? .permanent : .temporary, text))
        }
        var encoder = SMTPDataEncoder()
        var offset = 0
        while offset < message.count {
            let end = min(message.count, offset + 65536)
            try session.send(encoder.encode(message[offset..<end]), stage: .transaction)
            offset = end
        }
        try session.send(encoder.finish(), stage: .transaction)
        let final = try session.readReply(timeout: dataTimeout, stage: .transaction)
        session.quit()
        let text = session.said(final, after: "end of DATA")
        if final.isPositive {
            // RFC 3461 §5.2.1: a next hop that got the NOTIFY parameters reports success itself.
            let note = passDSN && dsn?.recipients.contains(where: { $0.notify != nil }) == true ? " \(DSNParameters.passedOnNote)" : ""
            return RemoteReport(recipients: results, message: (.delivered, "\(peer) accepted the message\(note). " + text))
        }
        return RemoteReport(recipients: results, message: (final.isPermanentFailure ? .permanent : .temporary, text))
    }

    /// The bytes to send: CRLF line ends, 7-bit if asked (RFC 6152 fallback), then DKIM-signed.
    func prepare(sevenBit: Bool) -> [UInt8] {
        if let done = prepared[sevenBit] { return done }
        var bytes = DKIMMessage.normalizingLineEnds(original)
        if sevenBit {
            if let downgraded = SevenBitDowngrade.downgrade(bytes) {
                bytes = downgraded
                log.info("8-bit body converted to quoted-printable: the server lacks 8BITMIME", id: queueID)
            } else {
                log.warning("8-bit multipart message sent as is to a server without 8BITMIME", id: queueID)
            }
        }
        let signed = DKIMSigning.sign(bytes, configuration: configuration, submitter: submitter,
                                      log: dkimLogged ? nil : log, queueID: queueID)
        dkimLogged = true
        prepared[sevenBit] = signed
        return signed
    }
}

/// Checks of the remote settings that their kinds cannot express, for `postamt check`.
public enum RemoteSettingsCheck {
    public static func problems(_ configuration: Configuration) -> [String] {
        var problems: [String] = []
        let file = configuration.file
        if RemoteTLSPolicy(rawValue: configuration.string("remote_tls_policy")) == nil {
            problems.append("\(file): remote_tls_policy must be none, may, encrypt or verify")
        }
        for entry in configuration.list("remote_tls_policy_map") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count != 2 || parts[0].isEmpty || RemoteTLSPolicy(rawValue: parts[1]) == nil {
                problems.append("\(file): remote_tls_policy_map: '\(entry)' is not domain=none|may|encrypt|verify")
            }
        }
        if configuration.count("remote_smtp_port") == 0 || configuration.count("remote_smtp_port") > 65535 {
            problems.append("\(file): remote_smtp_port must be 1-65535")
        }
        let ns = configuration.string("remote_nameserver")
        if !ns.isEmpty && SocketAddress(parsing: ns, defaultPort: 53) == nil {
            problems.append("\(file): remote_nameserver '\(ns)' is not ADDRESS or ADDRESS:PORT")
        }
        let daneNS = configuration.string("dane_nameserver")
        if !daneNS.isEmpty && SocketAddress(parsing: daneNS, defaultPort: 53) == nil {
            problems.append("\(file): dane_nameserver '\(daneNS)' is not ADDRESS or ADDRESS:PORT")
        }
        let auth = configuration.string("relayhost_auth_file")
        if !auth.isEmpty {
            if configuration.string("relayhost").isEmpty {
                problems.append("\(file): relayhost_auth_file is set but relayhost is not")
            }
            if let st = FileIO.status(auth), st.st_mode & 0o004 != 0 {
                problems.append("\(auth): readable by everyone; make it root:\(configuration.string("mail_owner")) 0640")
            }
        }
        return problems
    }
}
