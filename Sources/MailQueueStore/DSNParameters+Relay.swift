extension DSNParameters {
    /// What postamt-remote(8) puts in its K report when the next hop offered DSN and got the
    /// NOTIFY parameters: that MTA now owes the success notice, so the runner sends none
    /// (RFC 3461 §5.2.1); without it a NOTIFY=SUCCESS recipient gets "relayed" (§5.2.2).
    public static let passedOnNote = "(DSN passed on)"

    /// Whether a K report text says so: "HOST[IP] accepted the message (DSN passed on). …".
    /// Only that place counts: the server's own reply text follows it and must not fake it.
    public static func reportsPassedOn(_ text: String) -> Bool {
        let parts = text.split(separator: " ", maxSplits: 1)
        return parts.count == 2 && parts[1].hasPrefix("accepted the message \(passedOnNote). ")
    }
}
