import COpenSSL

/// Turns OpenSSL's thread-local error queue into text, like swift-nio-ssl's `SSLErrors.swift`:
/// every entry is drained (so a later operation never sees a stale error) and rendered as
/// "library: reason (extra data)". OpenSSL never puts key material into this queue.
enum OpenSSLErrorQueue {
    /// At most this many entries are kept; the rest are drained and dropped.
    static let maximumEntries = 8

    static func drain() -> [String] {
        var entries: [String] = []
        while true {
            var file: UnsafePointer<CChar>? = nil
            var line: Int32 = 0
            var function: UnsafePointer<CChar>? = nil
            var data: UnsafePointer<CChar>? = nil
            var flags: Int32 = 0
            let code = ERR_get_error_all(&file, &line, &function, &data, &flags)
            if code == 0 { break }
            guard entries.count < maximumEntries else { continue }
            var text: String
            if let reason = ERR_reason_error_string(code) {
                text = String(cString: reason)
                if let library = ERR_lib_error_string(code) { text = String(cString: library) + ": " + text }
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            if flags & ERR_TXT_STRING != 0, let data, data.pointee != 0 {
                text += " (\(String(cString: data)))"
            }
            entries.append(text)
        }
        return entries
    }

    /// A `NetError` of kind `.tls` for `operation`, with the drained queue (or `fallback`) as detail.
    static func error(_ operation: String, fallback: String = "unknown OpenSSL error") -> NetError {
        let entries = drain()
        return NetError(.tls, operation: operation, detail: entries.isEmpty ? fallback : entries.joined(separator: "; "))
    }
}
