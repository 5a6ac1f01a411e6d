/// The result word of a tagged response (RFC 9051 §7.1).
public enum IMAPTaggedStatus: String, Sendable, Equatable {
    case ok = "OK"
    case no = "NO"
    case bad = "BAD"
}

/// The status word of an untagged status response (RFC 9051 §7.1).
public enum IMAPUntaggedStatus: String, Sendable, Equatable {
    case ok = "OK"
    case no = "NO"
    case bad = "BAD"
    case bye = "BYE"
    case preauth = "PREAUTH"
}

/// A bracketed response code (RFC 9051 §7.1, RFC 4315 §3, RFC 7162 §3, RFC 5530, RFC 5182).
public enum IMAPResponseCode: Sendable, Equatable {
    case alert, parse, readOnly, readWrite, tryCreate, closed
    case alreadyExists, nonexistent, cannot, limit
    case authenticationFailed, authorizationFailed, expired, privacyRequired, contactAdmin
    case noPerm, inUse, expungeIssued, corruption, serverBug, clientBug, overQuota
    case unavailable, tooBig, uidNotSticky, notSaved, hasChildren, unknownCTE, noModSeq, useAttribute
    case badCharset([String])
    case capability([String])
    /// `[PERMANENTFLAGS (\Seen … \*)]`; `\*` when clients may create keywords.
    case permanentFlags([IMAPFlag], allowsNewKeywords: Bool)
    case uidNext(UInt32)
    case uidValidity(UInt32)
    case unseen(UInt32)
    /// RFC 4315 §3: `[APPENDUID uidvalidity uid-set]` (a set for MULTIAPPEND).
    case appendUID(uidValidity: UInt32, uids: IMAPNumberSet)
    /// RFC 4315 §3: `[COPYUID uidvalidity source-set dest-set]`. Both normalised sets list UIDs in
    /// ascending order; the host must have assigned destination UIDs in the source UIDs' order so
    /// that the n-th of one corresponds to the n-th of the other.
    case copyUID(uidValidity: UInt32, source: IMAPNumberSet, destination: IMAPNumberSet)
    /// RFC 8474 §4.1: `MAILBOXID (id)`.
    case mailboxID(String)
    /// RFC 7162 §3.1.2.
    case highestModSeq(UInt64)
    /// RFC 7162 §3.2: messages that failed UNCHANGEDSINCE.
    case modified(IMAPNumberSet)
    /// Any other code: an atom and optional text.
    case other(String, String?)

    /// The text between the brackets.
    public var wireText: String {
        switch self {
        case .alert: "ALERT"
        case .parse: "PARSE"
        case .readOnly: "READ-ONLY"
        case .readWrite: "READ-WRITE"
        case .tryCreate: "TRYCREATE"
        case .closed: "CLOSED"
        case .alreadyExists: "ALREADYEXISTS"
        case .nonexistent: "NONEXISTENT"
        case .cannot: "CANNOT"
        case .limit: "LIMIT"
        case .authenticationFailed: "AUTHENTICATIONFAILED"
        case .authorizationFailed: "AUTHORIZATIONFAILED"
        case .expired: "EXPIRED"
        case .privacyRequired: "PRIVACYREQUIRED"
        case .contactAdmin: "CONTACTADMIN"
        case .noPerm: "NOPERM"
        case .inUse: "INUSE"
        case .expungeIssued: "EXPUNGEISSUED"
        case .corruption: "CORRUPTION"
        case .serverBug: "SERVERBUG"
        case .clientBug: "CLIENTBUG"
        case .overQuota: "OVERQUOTA"
        case .unavailable: "UNAVAILABLE"
        case .tooBig: "TOOBIG"
        case .uidNotSticky: "UIDNOTSTICKY"
        case .notSaved: "NOTSAVED"
        case .hasChildren: "HASCHILDREN"
        case .unknownCTE: "UNKNOWN-CTE"
        case .noModSeq: "NOMODSEQ"
        case .useAttribute: "USEATTR"
        case .badCharset(let charsets):
            charsets.isEmpty ? "BADCHARSET" : "BADCHARSET (" + charsets.joined(separator: " ") + ")"
        case .capability(let capabilities): (["CAPABILITY"] + capabilities).joined(separator: " ")
        case .permanentFlags(let flags, let allowsNew):
            "PERMANENTFLAGS (" + (flags.map(\.name) + (allowsNew ? ["\\*"] : [])).joined(separator: " ") + ")"
        case .uidNext(let value): "UIDNEXT \(value)"
        case .uidValidity(let value): "UIDVALIDITY \(value)"
        case .unseen(let value): "UNSEEN \(value)"
        case .appendUID(let validity, let uids): "APPENDUID \(validity) \(uids)"
        case .copyUID(let validity, let source, let destination): "COPYUID \(validity) \(source) \(destination)"
        case .mailboxID(let id): "MAILBOXID (\(id))"
        case .highestModSeq(let value): "HIGHESTMODSEQ \(value)"
        case .modified(let set): "MODIFIED \(set)"
        case .other(let atom, let text): text.map { "\(atom) " + IMAPResponseEncoder.sanitizedText($0, allowBracket: true).replacingBrackets } ?? atom
        }
    }
}

extension IMAPReaderRejection {
    /// The reply the host should send with the command's tag: NO [TOOBIG] for an APPEND message
    /// that is too large and was never sent (RFC 7889 §4 style), BAD otherwise (RFC 7888 §4).
    public var suggestedResponse: (status: IMAPTaggedStatus, code: IMAPResponseCode, text: String) {
        switch self {
        case .lineTooLong(let limit):
            (.bad, .tooBig, "Command line longer than \(limit) octets")
        case .literalTooLarge(_, let limit, let synchronizing, let isAppend):
            (synchronizing && isAppend ? .no : .bad, .tooBig, "Literal larger than \(limit) octets")
        case .commandTooLarge(let limit):
            (.bad, .tooBig, "Command larger than \(limit) octets")
        case .tooManyLiterals(let limit):
            (.bad, .limit, "More than \(limit) literals in one command")
        }
    }
}

extension String {
    /// resp-text-code text is `1*<any TEXT-CHAR except "]">`.
    var replacingBrackets: String { String(map { $0 == "]" ? ")" : $0 }) }
}
