import Glibc

/// A bidirectional byte connection with a per-operation timeout: `PlainStream` (a socket or a pair
/// of fds) or `TLSConnection` on top of one. A server switches to TLS on STARTTLS by replacing its
/// `PlainStream` with a `TLSConnection` over the same stream. All methods throw `NetError`.
public protocol ByteStream: AnyObject {
    /// How long one read or write may wait for the peer to make progress (the TLS handshake as a whole).
    var timeout: Duration { get set }

    /// Reads at most `max` (> 0) bytes and appends them to `buffer`; returns how many, 0 at end of
    /// stream. Waits until at least one byte arrives, the stream ends, or `timeout` passes.
    func read(appendingTo buffer: inout [UInt8], max: Int) throws -> Int

    /// Writes all of `bytes`, waiting as needed.
    func write(_ bytes: [UInt8]) throws

    /// Ends the sending direction (TLS close_notify, or shutdown(SHUT_WR) on a socket). The fds stay open.
    func shutdown() throws
}

extension ByteStream {
    /// Reads at most `max` bytes; `nil` at end of stream.
    public func read(max: Int) throws -> [UInt8]? {
        var bytes: [UInt8] = []
        let count = try read(appendingTo: &bytes, max: max)
        return count == 0 ? nil : bytes
    }

    /// Writes the UTF-8 bytes of `text`.
    public func write(_ text: String) throws {
        try write(Array(text.utf8))
    }

    /// Writes a slice of bytes.
    public func write(_ bytes: ArraySlice<UInt8>) throws {
        try write(Array(bytes))
    }
}

/// Sets SIGPIPE to be ignored. Call once at program start: OpenSSL writes to sockets with
/// write(2), and a peer that hung up would otherwise kill the process instead of giving EPIPE.
public func ignoreBrokenPipeSignal() {
    signal(SIGPIPE, SIG_IGN)
}

/// Appends up to `max` bytes to `buffer` by calling `fill` on uninitialised space; `fill` returns
/// the count it produced (or a negative value, then nothing is appended and that value is returned).
/// The space is scratch memory never zero-filled; only what `fill` produced is copied in (zeroing
/// `max` bytes of the buffer first cost 64 KiB of memset per read of an SMTP line or packet).
func appendBytes(to buffer: inout [UInt8], max: Int, _ fill: (UnsafeMutableRawPointer, Int) -> Int) -> Int {
    guard max > 0 else { return 0 }
    return withUnsafeTemporaryAllocation(byteCount: max, alignment: 16) { scratch in
        let produced = fill(scratch.baseAddress!, max)
        if produced > 0 {
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<Swift.min(produced, max)]))
        }
        return produced
    }
}
