/// DNS block and allow lists (RFC 5782): how an address is looked up in a list zone and what
/// counts as "listed". postamt-spamcheck scores with them, postamt-smtpd screens connections.
public enum DNSList {
    /// RFC 5782 §2.1 (IPv4: octets reversed) and §2.4 (IPv6: nibbles reversed), under `zone`:
    /// 127.0.0.2 in zen.example → `2.0.0.127.zen.example`.
    public static func queryName(for address: IPAddress, in zone: String) -> String {
        let reversed = address.reverseLookupName.description
        let suffix = address.isIPv4 ? ".in-addr.arpa" : ".ip6.arpa"
        var query = reversed.hasSuffix(".") ? String(reversed.dropLast()) : reversed
        if query.hasSuffix(suffix) { query.removeLast(suffix.count) }
        let zone = zone.hasSuffix(".") ? String(zone.dropLast()) : zone
        return "\(query).\(zone)"
    }

    /// Listed: an A record in 127.0.0.0/8 (RFC 5782 §2.3). 127.255.255.0/24 is what some lists
    /// (Spamhaus) answer for a refused or over-quota query: an error, not a listing.
    public static func isListing(_ answer: DNSResult<IPAddress>) -> Bool {
        answer.records.contains { $0.bytes.count == 4 && $0.bytes[0] == 127 && $0.bytes[1] != 255 }
    }
}
