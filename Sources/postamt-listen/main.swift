// postamt-listen: a small tcpserver-like launcher (postamt-listen(8)): accepts TCP connections
// and runs PROGRAM for each with the connection on fd 0 and fd 1, as inetd and systemd's
// Accept=yes do, with UCSPI environment variables (TCPREMOTEIP, …) and connection limits.
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailNet
import MailSystem

let log = Log(program: "postamt-listen")
Signals.resetForProgramStart()

func usage() -> Never {
    log.error("usage: postamt-listen [-1] [-w] [-c max] [-C max-per-ip] [-r refusal] address:port program [arg…]")
    exit(SysExit.usage.rawValue)
}

// The limits' defaults come from postamt.conf (listen_connection_limit, listen_client_limit);
// -c and -C win. Postfix's anvil allows 50 connections per client: a relay, or a submission
// client behind NAT, opens many at once.
let configuration = (try? Configuration.load()) ?? Configuration(root: Configuration.installationRoot())
var args = Array(CommandLine.arguments.dropFirst())
var maxConnections = max(1, configuration.count("listen_connection_limit"))
var maxPerIP = max(1, configuration.count("listen_client_limit"))
var refusal: String? = nil
var printPort = false
var waitMode = false
options: while let a = args.first, a.hasPrefix("-") {
    args.removeFirst()
    switch a {
    case "-1": printPort = true
    case "-w": waitMode = true
    case "-c": guard let v = args.first, let n = Int(v), n > 0 else { usage() }; maxConnections = n; args.removeFirst()
    case "-C": guard let v = args.first, let n = Int(v), n > 0 else { usage() }; maxPerIP = n; args.removeFirst()
    case "-r": guard let v = args.first, !v.contains(where: { $0 == "\r" || $0 == "\n" }) else { usage() }; refusal = v; args.removeFirst()
    case "--": break options
    default: usage()
    }
}
// "ADDR:0" asks for a free port (print it with -1); SocketAddress refuses port 0 itself.
var listenText = args.first ?? ""
if listenText.hasSuffix(":0") { listenText.removeLast(2) }
if listenText.hasPrefix("[") && listenText.hasSuffix("]") { listenText = String(listenText.dropFirst().dropLast()) }
guard args.count >= 2, let address = SocketAddress(parsing: listenText, defaultPort: 0) else { usage() }
let program = args[1]
let programArgs = Array(args[1...])
// What a refused client reads before the close, in its own protocol (a silent close looks like a
// network fault: "lost connection while reading server greeting").
let refusalLine = refusal ?? ListenRefusal.line(for: program, hostname: configuration.hostname)

let listener: TCPListener
do {
    listener = try TCPListener(address: address)
} catch {
    log.error("\(error)")
    exit(SysExit.osError.rawValue)
}
if printPort {
    var line = Array("\(listener.address.port)\n".utf8)
    _ = line.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
}
if waitMode {
    // inetd's "wait" and systemd's Accept=no: the program gets the listening socket itself on
    // fd 0 and accepts on it (postamt-smtpd --serve); the limits are then the program's own.
    // The listener is close-on-exec; fd 0 must not be (dup2 onto itself would keep the flag).
    guard listener.fd == 0 ? fcntl(0, F_SETFD, 0) == 0 : dup2(listener.fd, 0) == 0 else {
        log.error("dup2: \(String(cString: strerror(errno)))")
        exit(SysExit.osError.rawValue)
    }
    log.info("listening on \(listener.address), handing the socket to \(program)")
    var argv: [UnsafeMutablePointer<CChar>?] = programArgs.map { strdup($0) } + [nil]
    execv(program, &argv)
    log.error("cannot run \(program): \(String(cString: strerror(errno)))")
    exit(SysExit.osError.rawValue)
}

var baseEnvironment: [String] = []
var e = environ
while let p = e.pointee {
    let entry = String(cString: p)
    if !entry.hasPrefix("TCP") && !entry.hasPrefix("PROTO=") { baseEnvironment.append(entry) }
    e += 1
}

var children: [pid_t: IPAddress] = [:]
func reap() {
    while let (pid, _) = Spawn.reapAny() { children.removeValue(forKey: pid) }
}

log.info("listening on \(listener.address), running \(program)")
while true {
    var p = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
    _ = poll(&p, 1, 1000)
    reap()
    guard p.revents != 0, let (conn, peer) = listener.accept() else { continue }
    let ip = peer?.address.unmapped
    let fromThisIP = children.values.filter { $0 == ip }.count
    if children.count >= maxConnections || fromThisIP >= maxPerIP {
        log.warning("refused \(peer.map { "\($0)" } ?? "?"): \(children.count >= maxConnections ? "too many connections" : "too many connections from this address")")
        if let refusalLine {
            // One short write to a fresh socket: it fits the send buffer; never wait for the client.
            _ = fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK)
            var bytes = Array((refusalLine + "\r\n").utf8)
            _ = bytes.withUnsafeMutableBytes { write(conn, $0.baseAddress, $0.count) }
        }
        close(conn)
        continue
    }
    ConnectionOptions.sendAtOnce(conn)  // as systemd's NoDelay=yes
    var env = baseEnvironment + ["PROTO=TCP"]
    if let peer { env += ["TCPREMOTEIP=\(peer.address.unmapped)", "TCPREMOTEPORT=\(peer.port)"] }
    if let local = SocketAddress.local(ofSocket: conn) { env += ["TCPLOCALIP=\(local.address.unmapped)", "TCPLOCALPORT=\(local.port)"] }
    do {
        let pid = try Spawn.start(program, arguments: programArgs, environment: env, fds: [(0, conn), (1, conn), (2, 2)])
        children[pid] = ip ?? IPAddress("0.0.0.0")!
    } catch {
        log.error("\(error)")
    }
    close(conn)
}

/// The refusal line for a connection over the limits, in the protocol of the program it would
/// have reached: SMTP's 421 (RFC 5321 §3.1), IMAP's untagged BYE (RFC 9051 §7.1.5), POP3's -ERR
/// with the SYS/TEMP code (RFC 3206); none for a program it does not know.
enum ListenRefusal {
    static func line(for program: String, hostname: String) -> String? {
        switch FileIO.baseName(program) {
        case "postamt-smtpd": return "421 4.7.0 \(hostname) Error: too many connections, try again later"
        case "postamt-imapd": return "* BYE [UNAVAILABLE] Too many connections, try again later"
        case "postamt-pop3d": return "-ERR [SYS/TEMP] Too many connections, try again later"
        default: return nil
        }
    }
}
