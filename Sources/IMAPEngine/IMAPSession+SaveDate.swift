import Maildir

extension IMAPSession {
    /// SAVEDATE (RFC 8514): when the message was saved into this mailbox, in seconds since the
    /// epoch. Every way a message comes into a Maildir folder (delivery, APPEND, COPY, MOVE)
    /// gives it a new unique name that starts with the time it was written
    /// ("<seconds>.M<microseconds>…"), which no later change (flags, a rename by another
    /// program) alters, unlike the file's ctime (changed by every flag rename) and mtime (the
    /// INTERNALDATE). nil for a name that does not start with a time (made by another program).
    static func saveDate(baseName: String) -> Int64? {
        MaildirFileName(baseName: baseName).deliveryTime.map { $0 / 1_000_000 }
    }
}
