import MailCore
import MailNet

/// One address to try, with the name it was found under (for TLS checks and logs).
public struct RemoteHost: Sendable, Equatable {
    public var name: String
    public var address: SocketAddress
    /// The MX lookup (or the implicit MX's) and this address's lookup were DNSSEC-secure (AD from
    /// a validating resolver): RFC 7672 §2.2 lets DANE apply only then.
    public var secure: Bool = false
}

/// The outcome of routing a destination.
public enum RemoteRoute: Sendable {
    case hosts([RemoteHost])
    case temporary(String)
    case permanent(String)
}

/// MX routing (RFC 5321 §5.1): MX records by preference, equal preferences in random order,
/// AAAA then A for each; the domain's own A/AAAA when it has no MX; null MX (RFC 7505) and
/// NXDOMAIN are permanent, DNS trouble temporary. MX hosts at or above our own preference are
/// dropped (we are one of the MXes: sending there would loop).
public struct RemoteRouter {
    public let resolver: DNSResolver
    public let port: UInt16
    public let myHostname: String
    public let hostLimit: Int

    public init(resolver: DNSResolver, port: UInt16, myHostname: String, hostLimit: Int) {
        self.resolver = resolver; self.port = port; self.myHostname = myHostname.lowercased(); self.hostLimit = max(1, hostLimit)
    }

    /// `destination` is a domain, "[1.2.3.4]"/"[IPv6:…]" (an address literal), or for a smarthost
    /// "[host]:port" (no MX lookup) / "host:port" (MX lookup).
    public func route(_ destination: String) -> RemoteRoute {
        var target = destination
        var port = self.port
        var useMX = true
        if target.hasPrefix("[") {
            guard let close = target.firstIndex(of: "]") else { return .permanent("bad destination \(destination) (#5.1.2)") }
            let rest = target[target.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let p = UInt16(rest.dropFirst()) else { return .permanent("bad port in \(destination) (#5.1.2)") }
                port = p
            }
            target = String(target[target.index(after: target.startIndex)..<close])
            useMX = false
            if target.lowercased().hasPrefix("ipv6:") { target = String(target.dropFirst(5)) }
            if let ip = IPAddress(target) { return .hosts([RemoteHost(name: target, address: SocketAddress(address: ip, port: port))]) }
        } else if let colon = target.lastIndex(of: ":"), let p = UInt16(target[target.index(after: colon)...]) {
            port = p
            target = String(target[..<colon])
        }
        if let ip = IPAddress(target) { return .hosts([RemoteHost(name: target, address: SocketAddress(address: ip, port: port))]) }
        var names: [String] = []
        var mxSecure = false
        if useMX {
            let mx = resolver.mx(target)
            mxSecure = resolver.lastAnswerAuthenticated
            switch mx {
            case .found(let records):
                if records.isNullMX { return .permanent("\(target) accepts no mail: its MX is the null MX (RFC 7505) (#5.1.10)") }
                var chosen = records.filter { !$0.exchange.isRoot }
                if let mine = chosen.first(where: { $0.exchange.description.lowercased().trimmingDot() == myHostname }) {
                    chosen = chosen.filter { $0.preference < mine.preference }
                    if chosen.isEmpty { return .permanent("mail for \(target) loops back to myself: this host is its best MX (#5.4.6)") }
                }
                // Random order among equal preferences (RFC 5321 §5.1).
                var ordered: [MXRecord] = []
                var i = 0
                while i < chosen.count {
                    var j = i
                    while j < chosen.count && chosen[j].preference == chosen[i].preference { j += 1 }
                    ordered += chosen[i..<j].shuffled()
                    i = j
                }
                names = ordered.map { $0.exchange.description.trimmingDot() }
            case .noData:
                names = [target]
            case .nonexistentDomain:
                return .permanent("\(target) does not exist (DNS NXDOMAIN) (#5.1.2)")
            case .invalidName(let why):
                return .permanent("\(why) (#5.1.2)")
            case .temporaryFailure(let why):
                return .temporary("DNS lookup of the MX of \(target) failed: \(why) (#4.4.3)")
            }
        } else {
            names = [target]
        }
        var hosts: [RemoteHost] = []
        var temporary: String? = nil
        for name in names {
            var found = false
            for lookup in [resolver.aaaa, resolver.a] {
                let result = lookup(name)
                let secure = mxSecure && resolver.lastAnswerAuthenticated
                switch result {
                case .found(let addresses):
                    found = true
                    for a in addresses { hosts.append(RemoteHost(name: name, address: SocketAddress(address: a, port: port), secure: secure)) }
                case .temporaryFailure(let why): temporary = "DNS lookup of \(name) failed: \(why) (#4.4.3)"
                default: break
                }
            }
            _ = found
            if hosts.count >= hostLimit { break }
        }
        if hosts.isEmpty {
            if let temporary { return .temporary(temporary) }
            return .permanent("no address (A or AAAA) for \(names.joined(separator: ", ")) (#5.1.2)")
        }
        return .hosts(Array(hosts.prefix(hostLimit)))
    }
}

extension String {
    func trimmingDot() -> String { hasSuffix(".") ? String(dropLast()) : self }
}
