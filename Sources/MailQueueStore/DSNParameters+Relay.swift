extension DSNParameters {
    /// What postamt-remote(8) puts in its K report when the next hop offered DSN and got the
    /// NOTIFY parameters: that MTA now owes the success notice, so the runner sends none
    /// (RFC 3461 §5.2.1); without it a NOTIFY=SUCCESS recipient gets "relayed" (§5.2.2).
    public static let passedOnNote = "(DSN passed on)"
}
