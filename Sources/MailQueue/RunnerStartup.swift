#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// How postamt-runner starts: as root it keeps a privileged spawner and drops to mail_owner;
/// otherwise it runs everything as itself.
public enum RunnerStartup {
    public struct Failure: Error, CustomStringConvertible {
        public let text: String
        public var description: String { text }
    }

    public static func environment(configuration: Configuration) -> [String] {
        QueueClient.environment(configuration: configuration)
    }

    public static func makeRunner(configuration: Configuration, log: Log) throws -> QueueRunner {
        let layout = QueueLayout(configuration: configuration)
        let env = environment(configuration: configuration)
        if Privileges.isRoot {
            let ownerName = configuration.string("mail_owner")
            guard let owner = SystemUser.named(ownerName), owner.uid != 0 else {
                throw Failure(text: "mail_owner '\(ownerName)' is not a non-root system user (create it: useradd --system \(ownerName))")
            }
            try layout.create(owner: owner)
            var pair: [Int32] = [0, 0]
            if socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) != 0 {
                throw SystemError("socketpair")
            }
            let me = "\(FileIO.executableDirectory())/postamt-runner"
            _ = try Spawn.start(me, arguments: ["postamt-runner", "--spawner"], environment: env,
                                fds: [(0, -1), (1, -1), (2, 2), (3, pair[1])])
            close(pair[1])
            guard chdir(layout.root) == 0 else { throw SystemError("chdir \(layout.root)") }
            try Privileges.dropToDaemonAccount(owner)
            return QueueRunner(configuration: configuration, launcher: SpawnerClient(socket: pair[0]), log: log)
        }
        if !layout.isFullyMade { try layout.create() }
        return QueueRunner(configuration: configuration,
                           launcher: DirectLauncher(program: configuration.program("postamt-local"), environment: env),
                           log: log)
    }
}
