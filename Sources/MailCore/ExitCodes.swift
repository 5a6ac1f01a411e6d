/// What became of a request, decided in one place from a status class (Postfix: deferral vs
/// bounce is decided from the status class).
public enum Disposition: Equatable, Sendable {
    case success
    case temporary
    case permanent
}

/// qmail-queue(8)'s exit codes. 0 is success, 11–40 permanent, everything else temporary.
public enum QueueExit: Int32, Sendable {
    case queued = 0
    case addressTooLong = 11
    case permanentRefusal = 31
    case outOfMemory = 51
    case timeout = 52
    case writeError = 53
    case readError = 54
    case configurationError = 55
    case queueDirectory = 62
    case messageFile = 64
    case envelopeFile = 65
    case commitFile = 66
    case temporaryRefusal = 71
    case internalBug = 81
    case envelopeFormat = 91

    public static func disposition(ofExitCode code: Int32) -> Disposition {
        if code == 0 { return .success }
        return (11...40).contains(code) ? .permanent : .temporary
    }
}

/// sysexits.h, as sendmail(1) and MDAs use them.
public enum SysExit: Int32, Sendable {
    case ok = 0
    case usage = 64
    case dataError = 65
    case noInput = 66
    case noUser = 67
    case noHost = 68
    case unavailable = 69
    case software = 70
    case osError = 71
    case osFile = 72
    case cantCreate = 73
    case ioError = 74
    case tempFail = 75
    case protocolError = 76
    case noPermission = 77
    case configuration = 78

    /// Temporary per sendmail's convention: only EX_TEMPFAIL (and OS-level errors) are retried.
    public static func disposition(ofExitCode code: Int32) -> Disposition {
        switch code {
        case 0: return .success
        case 75, 71, 74: return .temporary
        case 64...78: return .permanent
        default: return .temporary
        }
    }
}
