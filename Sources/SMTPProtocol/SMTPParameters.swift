/// The grammar of MAIL and RCPT arguments, without replies or session state: the keyword
/// before the path, the ESMTP parameters after it (RFC 5321 §4.1.2) and the DSN NOTIFY list
/// (RFC 3461 §4.1). The session turns a problem into its reply.
enum SMTPParameters {
    enum Problem: Error, Equatable {
        case badKeyword
        case badValue
    }

    /// The words of `*(SP esmtp-param)`, keywords upper-cased. `bytes` starts with the space.
    static func parse(_ bytes: ArraySlice<UInt8>) -> Result<[(String, ArraySlice<UInt8>?)], Problem> {
        var result: [(String, ArraySlice<UInt8>?)] = []
        for word in bytes.split(separator: UInt8(ascii: " ")) {
            let equals = word.firstIndex(of: UInt8(ascii: "="))
            let keyword = word[word.startIndex..<(equals ?? word.endIndex)]
            // esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126 / UTF-8)
            guard let first = keyword.first, isLetDig(first), keyword.count <= 32,
                  keyword.allSatisfy({ isLetDig($0) || $0 == UInt8(ascii: "-") })
            else { return .failure(.badKeyword) }
            var value: ArraySlice<UInt8>?
            if let equals {
                let text = word[(equals + 1)...]
                guard !text.isEmpty, text.allSatisfy({ ($0 >= 33 && $0 != UInt8(ascii: "=") && $0 != 127) }) else {
                    return .failure(.badValue)
                }
                value = text
            }
            result.append((String(decoding: keyword.map(asciiUppercased), as: UTF8.self), value))
        }
        return .success(result)
    }

    /// NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY; nil when malformed.
    static func notify(_ value: ArraySlice<UInt8>) -> SMTPDSNNotify? {
        var notify: SMTPDSNNotify = []
        for word in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            switch String(decoding: word.map(asciiUppercased), as: UTF8.self) {
            case "NEVER": notify.insert(.never)
            case "SUCCESS": notify.insert(.success)
            case "FAILURE": notify.insert(.failure)
            case "DELAY": notify.insert(.delay)
            default: return nil
            }
        }
        // RFC 3461 §4.1: NEVER stands alone.
        if notify.contains(.never) && notify != .never { return nil }
        return notify
    }

    /// The index after `keyword` (case-insensitive) and any spaces (RFC 5321 has none, but many
    /// clients send "MAIL FROM: <a@b>").
    static func afterKeyword(_ keyword: String, in argument: ArraySlice<UInt8>) -> Int? {
        let expected = Array(keyword.utf8)
        guard argument.count >= expected.count,
              argument.prefix(expected.count).map(asciiUppercased).elementsEqual(expected)
        else { return nil }
        var index = argument.startIndex + expected.count
        while index < argument.endIndex && argument[index] == UInt8(ascii: " ") { index += 1 }
        return index
    }
}
