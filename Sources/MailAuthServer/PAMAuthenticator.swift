import CPAM
import MailAuth

/// One password check through PAM (pam_start, pam_authenticate, pam_acct_mgmt, pam_end).
///
/// Runs in a worker process (or in `check` mode): pam_unix may sleep, modules may leak, and a
/// crash in a module must not take the serving process and its cache down.
public enum PAMAuthenticator {
    /// Checks `password` for `user` with the PAM service `service`. Unknown users, wrong
    /// passwords, locked, expired and refused accounts all give `.fail`; only trouble with PAM
    /// itself gives `.temporary`. `peer` becomes PAM_RHOST.
    public static func authenticate(service: String, user: [UInt8], password: [UInt8], peer: [UInt8]) -> AuthResponse {
        // C strings cannot carry NUL: such a name or password cannot be right.
        guard !user.isEmpty, !user.contains(0), !password.contains(0), !service.utf8.contains(0) else { return .fail }
        let userC = user.map { CChar(bitPattern: $0) } + [0]
        var passwordC = password.map { CChar(bitPattern: $0) } + [0]
        let peerC = peer.filter { $0 != 0 }.map { CChar(bitPattern: $0) } + [0]
        defer {
            for i in passwordC.indices { passwordC[i] = 0 }   // best effort: our copy is wiped
        }
        return userC.withUnsafeBufferPointer { userPointer in
            passwordC.withUnsafeBufferPointer { passwordPointer in
                var credentials = postamt_pam_credentials(user: userPointer.baseAddress, password: passwordPointer.baseAddress)
                return withUnsafePointer(to: &credentials) { credentialsPointer in
                    run(service: service, user: userPointer.baseAddress!, credentials: credentialsPointer, peer: peerC)
                }
            }
        }
    }

    private static func run(service: String, user: UnsafePointer<CChar>,
                            credentials: UnsafePointer<postamt_pam_credentials>, peer: [CChar]) -> AuthResponse {
        var handle: OpaquePointer? = nil
        var rc = postamt_pam_begin(service, user, credentials, &handle)
        guard rc == PAM_SUCCESS, let handle else {
            if let handle { pam_end(handle, rc) }
            return .temporary(reason: "PAM unavailable (\(describe(rc, nil)))")
        }
        defer { pam_end(handle, rc) }
        if peer.count > 1 { _ = pam_set_item(handle, PAM_RHOST, peer) }
        // No password is no password: refuse empty ones even where the service says nullok.
        let flags = Int32(PAM_SILENT) | Int32(PAM_DISALLOW_NULL_AUTHTOK)
        rc = pam_authenticate(handle, flags)
        if rc == PAM_SUCCESS { rc = pam_acct_mgmt(handle, flags) }
        switch rc {
        case PAM_SUCCESS:
            guard let canonical = postamt_pam_user(handle) else { return .temporary(reason: "PAM gave no user name") }
            return .ok(user: Array(String(cString: canonical).utf8))
        case PAM_AUTH_ERR, PAM_USER_UNKNOWN, PAM_MAXTRIES, PAM_CRED_INSUFFICIENT, PAM_PERM_DENIED,
             PAM_ACCT_EXPIRED, PAM_NEW_AUTHTOK_REQD, PAM_AUTHTOK_EXPIRED:
            return .fail
        default:
            return .temporary(reason: "PAM: \(describe(rc, handle))")
        }
    }

    static func describe(_ rc: Int32, _ handle: OpaquePointer?) -> String {
        guard let text = pam_strerror(handle, rc) else { return "error \(rc)" }
        return String(cString: text)
    }
}
