/// The input of DJB's checkpassword interface (https://cr.yp.to/checkpwd/interface.html):
/// "checkpassword reads at most 512 bytes from descriptor 3": a user name, a NUL, a password,
/// a NUL, a timestamp, a NUL, and possibly more data (ignored, as there).
public struct CheckpasswordInput: Equatable, Sendable {
    /// checkpassword's own limit.
    public static let maxLength = 512

    public var user: [UInt8]
    public var password: [UInt8]
    /// The third field (a timestamp for challenge-response schemes); read and not used.
    public var timestamp: [UInt8]?

    public init(user: [UInt8], password: [UInt8], timestamp: [UInt8]?) {
        self.user = user; self.password = password; self.timestamp = timestamp
    }

    public enum ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        case tooLong
        case missingUserTerminator
        case missingPasswordTerminator
        case emptyUser

        public var description: String {
            switch self {
            case .tooLong: return "more than \(CheckpasswordInput.maxLength) bytes on descriptor 3"
            case .missingUserTerminator: return "no NUL after the user name"
            case .missingPasswordTerminator: return "no NUL after the password"
            case .emptyUser: return "empty user name"
            }
        }
    }

    /// Parses what was read from descriptor 3. The caller reads at most `maxLength + 1` bytes, so
    /// that over-long input is seen and refused rather than cut into a different password.
    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> CheckpasswordInput {
        guard bytes.count <= maxLength else { throw .tooLong }
        guard let userEnd = bytes.firstIndex(of: 0) else { throw .missingUserTerminator }
        guard userEnd > 0 else { throw .emptyUser }
        let afterUser = userEnd + 1
        guard let passwordEnd = bytes[afterUser...].firstIndex(of: 0) else { throw .missingPasswordTerminator }
        var timestamp: [UInt8]? = nil
        let afterPassword = passwordEnd + 1
        if afterPassword < bytes.count {
            let end = bytes[afterPassword...].firstIndex(of: 0) ?? bytes.count
            timestamp = Array(bytes[afterPassword..<end])
        }
        return CheckpasswordInput(user: Array(bytes[..<userEnd]), password: Array(bytes[afterUser..<passwordEnd]),
                                  timestamp: timestamp)
    }
}
