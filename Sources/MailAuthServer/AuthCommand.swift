#if canImport(Glibc)
import Glibc
#endif
import MailAuth
import MailCore
import MailSystem

/// The `postamt-auth` program: `check`, `serve`, `ask`, `stats` and the internal `worker`.
/// postamt-auth(8) documents each; this maps arguments to them and errors to exit codes.
public enum AuthCommand {
    static let usage = """
        usage: postamt-auth check [PROGRAM [ARGS...]]   (checkpassword: user\\0password\\0 on fd 3)
               postamt-auth serve [--socket PATH]
               postamt-auth ask [--socket PATH] SERVICE USER [PEER]   (password on stdin)
               postamt-auth stats [--socket PATH]
        """

    /// checkpassword's exit codes (https://cr.yp.to/checkpwd/interface.html), plus 2 for misuse.
    public enum CheckExit: Int32 {
        case success = 0
        case failure = 1
        case usage = 2
        case temporary = 111
    }

    public static func main(_ arguments: [String]) -> Int32 {
        Signals.resetForProgramStart()
        let log = Log(program: "postamt-auth")
        var rest = Array(arguments.dropFirst())
        guard !rest.isEmpty else {
            log.error(usage)
            return CheckExit.usage.rawValue
        }
        let command = rest.removeFirst()
        if command == "worker" { return AuthWorker.run(arguments: rest, log: log) }

        let configuration: Configuration
        do {
            configuration = try Configuration.load(root: Configuration.installationRoot())
        } catch {
            log.error("configuration: \(error)")
            return CheckExit.temporary.rawValue
        }
        var settings = AuthConfiguration(configuration)
        switch command {
        case "check":
            return check(program: rest, settings: settings, log: log).rawValue
        case "serve", "ask", "stats":
            var socketGiven = false
            if rest.first == "--socket" {
                guard rest.count >= 2 else { break }
                settings.socketPath = rest[1]
                socketGiven = true
                rest.removeFirst(2)
            }
            if command == "serve" && rest.isEmpty { return serve(settings: settings, socketGiven: socketGiven, log: log) }
            if command == "stats" && rest.isEmpty { return stats(settings: settings, log: log) }
            if command == "ask" && (2...3).contains(rest.count) {
                return ask(service: rest[0], user: rest[1], peer: rest.count == 3 ? rest[2] : "", settings: settings, log: log).rawValue
            }
        default:
            break
        }
        log.error(usage)
        return CheckExit.usage.rawValue
    }

    // MARK: check

    /// checkpassword: reads fd 3, checks in this process (no cache, no worker), exits or execs.
    public static func check(program: [String], settings: AuthConfiguration, log: Log) -> CheckExit {
        var input: [UInt8]
        do {
            // One byte more than allowed, so over-long input is seen rather than truncated.
            input = try readAtMost(3, CheckpasswordInput.maxLength + 1)
        } catch {
            log.error("check: cannot read descriptor 3: \(error)")
            return .usage
        }
        close(3)
        defer { for i in input.indices { input[i] = 0 } }
        var credentials: CheckpasswordInput
        do {
            credentials = try CheckpasswordInput.parse(input)
        } catch {
            log.error("check: \(error)")
            return .usage
        }
        defer { for i in credentials.password.indices { credentials.password[i] = 0 } }
        let backend = AuthBackend(settings)
        let service = backend.backendService(for: "checkpassword")
        let user = AuthProtocol.printable(credentials.user, limit: 64)
        let response = backend.check(service: service, user: credentials.user, password: credentials.password,
                                     peer: Array((getenv("TCPREMOTEIP").map { String(cString: $0) } ?? "").utf8.prefix(128)))
        switch response {
        case .ok:
            log.info("auth ok service=checkpassword user=\(user)")
            guard let path = program.first else { return .success }
            // Exec'd unchanged: same uid, same environment (unlike DJB's checkpassword).
            var argv: [UnsafeMutablePointer<CChar>?] = program.map { strdup($0) } + [nil]
            execvp(path, &argv)
            log.error("check: cannot run \(path): \(SystemError.describe(errno))")
            for p in argv { free(p) }
            return .temporary
        case .fail:
            log.info("auth failed service=checkpassword user=\(user)")
            if settings.failureDelay > 0 { sleep(UInt32(clamping: settings.failureDelay)) }
            return .failure
        case .temporary(let reason):
            log.warning("auth temporary failure service=checkpassword user=\(user): \(reason)")
            return .temporary
        case .error, .stats:
            return .temporary
        }
    }

    static func readAtMost(_ fd: Int32, _ limit: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        while result.count < limit {
            let chunk = try FileIO.read(fd, max: limit - result.count)
            if chunk.isEmpty { break }
            result += chunk
        }
        return result
    }

    // MARK: serve

    static func serve(settings: AuthConfiguration, socketGiven: Bool, log: Log) -> Int32 {
        let listener: Int32
        if let fd = systemdSocket() {
            listener = fd
        } else if socketGiven {
            do {
                let fd = try UnixSocket.listen(at: settings.socketPath, mode: 0o660)
                if geteuid() == 0, let gid = groupID(named: settings.group) { _ = chown(settings.socketPath, 0, gid) }
                listener = fd.release()
            } catch {
                log.error("serve: \(error)")
                return CheckExit.temporary.rawValue
            }
        } else {
            log.error("serve: no socket from systemd (LISTEN_FDS) and no --socket PATH")
            return CheckExit.usage.rawValue
        }
        var path = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &path, path.count - 1)
        guard n > 0 else {
            log.error("serve: cannot find my own program (/proc/self/exe)")
            return CheckExit.temporary.rawValue
        }
        let workerPath = String(decoding: path[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        log.info("serving: backend=\(settings.passwdFile.isEmpty ? "pam service \(settings.pamService)" : "passwd-file \(settings.passwdFile)") workers=\(settings.workerLimit) cache=\(settings.cacheSize)")
        AuthServer(listener: listener, settings: settings, workerPath: workerPath, log: log).run()
    }

    /// sd_listen_fds(3) for one socket: fd 3 when LISTEN_PID is us and LISTEN_FDS is 1.
    static func systemdSocket() -> Int32? {
        guard let pid = getenv("LISTEN_PID"), let count = getenv("LISTEN_FDS"),
              pid_t(String(cString: pid)) == getpid(), String(cString: count) == "1" else { return nil }
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        _ = fcntl(3, F_SETFD, FD_CLOEXEC)
        return 3
    }

    // MARK: ask, stats

    static func ask(service: String, user: String, peer: String, settings: AuthConfiguration, log: Log) -> CheckExit {
        var password = (try? FileIO.readAll(0, limit: 4096)) ?? []
        if password.last == UInt8(ascii: "\n") { password.removeLast() }
        let client = AuthClient(socketPath: settings.socketPath, timeout: settings.clientTimeout)
        switch client.authenticate(service: service, user: Array(user.utf8), password: password, peer: peer) {
        case .success(let canonical):
            print("OK \(canonical)")
            return .success
        case .failure:
            print("FAIL")
            return .failure
        case .temporary(let reason):
            print("TEMP \(reason)")
            return .temporary
        }
    }

    static func stats(settings: AuthConfiguration, log: Log) -> Int32 {
        do {
            let values = try AuthClient(socketPath: settings.socketPath, timeout: settings.clientTimeout).statistics()
            for v in values { print("\(v.name) \(v.value)") }
            return 0
        } catch {
            log.error("stats: \(error)")
            return CheckExit.temporary.rawValue
        }
    }
}
