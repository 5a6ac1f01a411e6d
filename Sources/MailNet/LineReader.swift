/// Reads lines from a `ByteStream` with the limits of a `LineFramer`. A server that answers
/// STARTTLS calls `discardBuffered()` and then sets `stream` to the new `TLSConnection`.
public final class LineReader {
    /// The stream lines come from; replace it on STARTTLS (end of stream is forgotten then).
    public var stream: any ByteStream {
        didSet { reachedEndOfStream = false }
    }
    public private(set) var framer: LineFramer
    /// Bytes asked for per read.
    public let readSize: Int
    /// If set, the longest one `readLine()` may take in total, however the bytes trickle in: the
    /// stream's own timeout only bounds each wait, so without this a peer sending a byte just
    /// before every timeout could hold one line open for ages (slow loris).
    public var lineTimeout: Duration?
    private var reachedEndOfStream = false
    private var chunk: [UInt8] = []

    public init(stream: any ByteStream, limits: LineLimits = LineLimits(), readSize: Int = 16384) {
        self.stream = stream
        self.framer = LineFramer(limits: limits)
        self.readSize = max(1, readSize)
    }

    /// The next line (or `.tooLong` for one over the limit, already skipped); `nil` at end of
    /// stream with nothing pending. Throws the stream's `NetError` (a timeout among them).
    public func readLine() throws -> LineEvent? {
        let deadline = lineTimeout.map { Deadline.after($0) }
        while true {
            if let event = framer.nextLine(atEndOfStream: reachedEndOfStream) { return event }
            if reachedEndOfStream { return nil }
            if let deadline {
                let left = deadline.remainingMilliseconds
                guard left > 0 else {
                    throw NetError(.timedOut, operation: "read line", detail: "line not complete within the line timeout")
                }
                let streamTimeout = stream.timeout
                stream.timeout = min(streamTimeout, .milliseconds(left))
                defer { stream.timeout = streamTimeout }
                try fill()
            } else {
                try fill()
            }
        }
    }

    /// Bytes the peer sent beyond the line last returned (pipelined commands, or plaintext
    /// injected before a TLS handshake).
    public var bufferedByteCount: Int { framer.bufferedByteCount }

    /// Drops every buffered byte; returns how many. See `LineFramer.discardBuffered()`.
    @discardableResult
    public func discardBuffered() -> Int { framer.discardBuffered() }

    /// Reads exactly `count` raw bytes (buffered ones first); fewer only if the stream ends.
    public func readBytes(count: Int) throws -> [UInt8] {
        var bytes = framer.takeBuffered(upTo: count)
        while bytes.count < count {
            chunk.removeAll(keepingCapacity: true)
            let read = try stream.read(appendingTo: &chunk, max: min(readSize, count - bytes.count))
            if read == 0 { reachedEndOfStream = true; break }
            bytes.append(contentsOf: chunk)
        }
        return bytes
    }

    /// Up to `max` raw bytes: buffered ones if any, else one read; `nil` at end of stream.
    /// For streaming a large literal to disk without holding it in memory.
    public func readAvailable(max: Int) throws -> [UInt8]? {
        if framer.bufferedByteCount > 0 { return framer.takeBuffered(upTo: max) }
        if reachedEndOfStream { return nil }
        let bytes = try stream.read(max: Swift.min(max, readSize))
        if bytes == nil { reachedEndOfStream = true }
        return bytes
    }

    private func fill() throws {
        chunk.removeAll(keepingCapacity: true)
        let count = try stream.read(appendingTo: &chunk, max: readSize)
        if count == 0 { reachedEndOfStream = true } else { framer.append(chunk) }
    }
}
