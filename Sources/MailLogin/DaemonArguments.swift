import MailCore

/// The arguments the per-connection login servers take (postamt-imapd(8), postamt-pop3d(8),
/// postamt-managesieved(8), postamt-webmail(8)): `[--tls] [--preauth USER] [--root DIR]`, each
/// only where the program offers it. Positional, fixed, no option clusters: a per-connection
/// program is started by systemd or postamt-listen, not typed.
public struct DaemonArguments: Equatable, Sendable {
    public enum Option: Sendable { case tls, preauth, root }

    public var implicitTLS = false
    public var preauth: String?
    public var root: String?

    /// nil for a usage error: an option the program does not take, or one without its value.
    public init?(_ arguments: [String], accepting options: Set<Option>) {
        var rest = Array(arguments.dropFirst())[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--tls" where options.contains(.tls):
                implicitTLS = true
            case "--preauth" where options.contains(.preauth):
                guard let user = rest.popFirst(), !user.isEmpty else { return nil }
                preauth = user
            case "--root" where options.contains(.root):
                guard let root = rest.popFirst() else { return nil }
                self.root = root
            default:
                return nil
            }
        }
    }

    /// postamt.conf under `--root` (or POSTAMT_ROOT).
    public func configuration() throws(ConfigErrors) -> Configuration {
        try Configuration.load(root: Configuration.installationRoot(argument: root))
    }
}
