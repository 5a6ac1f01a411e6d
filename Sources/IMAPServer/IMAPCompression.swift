import CZlib

/// COMPRESS=DEFLATE (RFC 4978) in the byte stream of the host: raw DEFLATE (RFC 1951,
/// windowBits -15) both ways, one deflate stream and one inflate stream for the rest of the
/// connection, so the dictionary carries over from response to response.
final class IMAPDeflateStreams {
    private let deflater = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let inflater = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private var deflaterReady = false, inflaterReady = false
    /// Inflated input is handed on in pieces of at most this size, so a small compressed
    /// command that inflates hugely (a "zip bomb") never sits in memory whole: the command
    /// reader's limits see it piece by piece.
    static let inflateChunk = 64 * 1024

    init?(level: Int32) {
        deflaterReady = postamt_deflate_init_raw(deflater, max(1, min(9, level))) == Z_OK
        inflaterReady = postamt_inflate_init_raw(inflater) == Z_OK
        guard deflaterReady && inflaterReady else { return nil }
    }

    deinit {
        if deflaterReady { deflateEnd(deflater) }
        if inflaterReady { inflateEnd(inflater) }
        deflater.deallocate()
        inflater.deallocate()
    }

    /// `bytes` deflated and ended with Z_SYNC_FLUSH (§3: the client can decode every response
    /// as soon as it arrives), or nil when zlib fails.
    func compress(_ bytes: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: max(256, bytes.count / 2 + 64))
        var input = bytes
        let ok = input.withUnsafeMutableBufferPointer { inBuffer -> Bool in
            deflater.pointee.next_in = inBuffer.baseAddress
            deflater.pointee.avail_in = UInt32(inBuffer.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { outBuffer -> (Int32, Int) in
                    deflater.pointee.next_out = outBuffer.baseAddress
                    deflater.pointee.avail_out = UInt32(outBuffer.count)
                    let status = deflate(deflater, Z_SYNC_FLUSH)
                    return (status, outBuffer.count - Int(deflater.pointee.avail_out))
                }
                guard status == Z_OK || status == Z_BUF_ERROR else { return false }
                out.append(contentsOf: chunk[0..<produced])
                // Done when zlib left room in the output: all input taken and flushed.
                if deflater.pointee.avail_out != 0 { return true }
            }
        }
        deflater.pointee.next_in = nil
        return ok ? out : nil
    }

    /// Inflates `bytes`, calling `consume` with each piece; false on corrupt input or a
    /// stream the client ended (neither is allowed: §3 keeps compression to the end).
    func decompress(_ bytes: [UInt8], _ consume: ([UInt8]) -> Void) -> Bool {
        guard !bytes.isEmpty else { return true }
        var chunk = [UInt8](repeating: 0, count: Self.inflateChunk)
        var input = bytes
        return input.withUnsafeMutableBufferPointer { inBuffer -> Bool in
            inflater.pointee.next_in = inBuffer.baseAddress
            inflater.pointee.avail_in = UInt32(inBuffer.count)
            defer { inflater.pointee.next_in = nil }
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { outBuffer -> (Int32, Int) in
                    inflater.pointee.next_out = outBuffer.baseAddress
                    inflater.pointee.avail_out = UInt32(outBuffer.count)
                    let status = inflate(inflater, Z_SYNC_FLUSH)
                    return (status, outBuffer.count - Int(inflater.pointee.avail_out))
                }
                if produced > 0 { consume(Array(chunk[0..<produced])) }
                switch status {
                case Z_OK: break
                case Z_BUF_ERROR: return true  // no progress possible: all input used
                default: return false          // Z_STREAM_END, Z_DATA_ERROR, Z_MEM_ERROR…
                }
                if inflater.pointee.avail_in == 0 && inflater.pointee.avail_out != 0 { return true }
            }
        }
    }
}
