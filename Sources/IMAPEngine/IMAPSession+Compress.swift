import IMAPProtocol

// MARK: COMPRESS=DEFLATE (RFC 4978)

extension IMAPSession {
    /// RFC 4978 §3: after the tagged OK both directions are raw DEFLATE (RFC 1951). The engine
    /// stays I/O-free: it answers, stops reading (like STARTTLS) and sets `wantsCompression`;
    /// the host deflates everything it sends from then on and inflates everything it reads,
    /// beginning with what `compressionStarted()` hands back.
    ///
    /// Valid after login only (Dovecot does the same), so STARTTLS, which is valid only before
    /// it, always comes first: TLS carries the compressed stream, never the reverse (§4 wants
    /// TLS below COMPRESS). A second COMPRESS is refused with [COMPRESSIONACTIVE].
    func compress(tag: String, mechanism: String) {
        guard configuration.compressionAvailable else { return bad(tag, "COMPRESS is not available") }
        guard mechanism == "DEFLATE" else { return bad(tag, "Unknown compression mechanism") }
        guard !compressionActive else {
            return no(tag, code: .other("COMPRESSIONACTIVE", nil), "DEFLATE is already active")
        }
        ok(tag, "DEFLATE active")
        wantsCompression = true
        log?("COMPRESS DEFLATE")
    }

    /// The host has turned compression on. Returns the input the client sent after the
    /// COMPRESS command (already compressed), which the host inflates and feeds to `receive`.
    public func compressionStarted() -> [UInt8] {
        wantsCompression = false
        compressionActive = true
        return reader.takeBufferedInput()
    }
}
