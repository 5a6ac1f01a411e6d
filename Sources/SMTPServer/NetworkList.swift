import MailNet

/// A list of networks in CIDR notation (`127.0.0.0/8`, `::1/128`, or a bare address), as
/// `smtpd_trusted_networks` gives it. IPv4-mapped IPv6 peers match IPv4 networks.
public struct NetworkList: Sendable, Equatable {
    struct Network: Sendable, Equatable {
        let address: IPAddress
        let prefixLength: Int
    }
    private(set) var networks: [Network] = []

    /// Parses every entry; an entry that is not a network is returned in `invalid`.
    public init(_ entries: [String]) {
        for entry in entries {
            if let network = NetworkList.parse(entry) { networks.append(network) } else { invalid.append(entry) }
        }
    }

    /// Entries that could not be parsed (reported in the log, never matching).
    public private(set) var invalid: [String] = []

    static func parse(_ text: String) -> Network? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = IPAddress(String(parts[0])) else { return nil }
        let bits = address.bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...bits).contains(n) else { return nil }
            length = n
        }
        return Network(address: address.unmapped, prefixLength: address.isIPv4 ? length : (address.unmapped.isIPv4 ? max(0, length - 96) : length))
    }

    /// True when `address` lies in one of the networks.
    public func contains(_ address: IPAddress) -> Bool {
        let address = address.unmapped
        return networks.contains { network in
            guard network.address.bytes.count == address.bytes.count else { return false }
            var remaining = network.prefixLength
            for (a, b) in zip(network.address.bytes, address.bytes) {
                guard remaining > 0 else { return true }
                let mask: UInt8 = remaining >= 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - remaining))
                if a & mask != b & mask { return false }
                remaining -= 8
            }
            return true
        }
    }
}
