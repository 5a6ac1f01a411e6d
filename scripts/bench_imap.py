"""imap: postamt-imapd beside Dovecot. See scripts/bench's help for what is measured."""
import argparse, os, pwd, random, shutil, signal, string, subprocess, sys, tempfile, threading, time

from bench_common import *


WORDS = ["postamt", "mail", "server", "swift", "maildir", "imap", "search", "hello", "world", "queue",
         "message", "folder", "session", "client", "benchmark", "dovecot", "envelope", "flags", "body", "the"]


class MessageMaker:
    """Messages of 2–4 KB (LF line ends, as in a Maildir), made from a few dozen prepared bodies so
    that 100,000 of them are written in seconds."""

    def __init__(self, seed=1):
        rng = random.Random(seed)
        self.bodies = []
        for _ in range(64):
            size, lines = rng.randint(1800, 3800), []
            while sum(len(x) + 1 for x in lines) < size:
                lines.append(" ".join(rng.choice(WORDS) for _ in range(10)))
            self.bodies.append("\n".join(lines) + "\n")

    def make(self, i, to="user@bench.example"):
        return (f"Return-Path: <s{i}@example.org>\nFrom: Sender {i % 997} <s{i % 997}@example.org>\nTo: {to}\n"
                f"Subject: message {i} about {WORDS[i % len(WORDS)]}\nDate: Mon, 2 Jan 2006 15:04:05 +0000\n"
                f"Message-ID: <{i}.{os.getpid()}@bench.example>\nMIME-Version: 1.0\n"
                f"Content-Type: text/plain; charset=us-ascii\n\n{self.bodies[i % len(self.bodies)]}").encode()


def fill_maildirs(user, directories, count, maker, first=0):
    """`count` messages into Maildir/new of each of `directories` (identical copies), owned by the user."""
    pw = pwd.getpwnam(user)
    for d in directories:
        shutil.rmtree(d, ignore_errors=True)
        for sub in ("", "/new", "/cur", "/tmp"):
            os.makedirs(d + sub, mode=0o700, exist_ok=True)
    stamp = 1136214245
    for i in range(first, first + count):
        data, name = maker.make(i, f"{user}@bench.example"), f"{stamp + i}.M{i}P1.bench"
        for d in directories:
            fd = os.open(f"{d}/new/{name}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.close(fd)
    for d in directories:
        sh("chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", d)


class IMAPConnection:
    """One IMAP connection (a pipe to a pre-authenticated server, or a socket): commands one at a
    time, responses read in large chunks, literals skipped, EXISTS/EXPUNGE counted."""

    def __init__(self, send, recv):
        self.send, self.recv = send, recv
        self.buf, self.pos, self.n, self.exists = bytearray(), 0, 0, 0

    @classmethod
    def over_socket(cls, sock):
        return cls(sock.sendall, lambda: sock.recv(1 << 16))

    @classmethod
    def over_process(cls, p):
        def send(data):
            view = memoryview(data)
            while view:
                view = view[os.write(p.stdin.fileno(), view):]
        return cls(send, lambda: os.read(p.stdout.fileno(), 1 << 20))

    def _fill(self):
        chunk = self.recv()
        if not chunk:
            raise EOFError("the server closed the connection")
        if self.pos > 1 << 20:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def readline(self):
        """One response line without CRLF; a literal's bytes are skipped (the line goes on after it)."""
        parts = []
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            while end < 0:
                self._fill()
                end = self.buf.find(b"\r\n", self.pos)
            line = bytes(self.buf[self.pos:end])
            self.pos = end + 2
            parts.append(line)
            if not line.endswith(b"}") or b"{" not in line:
                return b"".join(parts)
            size = int(line[line.rindex(b"{") + 1:-1].rstrip(b"+"))
            while len(self.buf) - self.pos < size:
                self._fill()
            self.pos += size

    def command(self, text, literal=None):
        """Sends a command (with a LITERAL+ literal), reads to the tagged answer; returns it."""
        self.n += 1
        tag = b"b%d" % self.n
        data = tag + b" " + text.encode()
        data += (b" {%d+}\r\n" % len(literal) + literal + b"\r\n") if literal is not None else b"\r\n"
        self.send(data)
        while True:
            line = self.readline()
            if line.startswith(b"* "):
                fields = line.split(b" ", 3)
                if len(fields) >= 3 and fields[1].isdigit():
                    if fields[2] == b"EXISTS":
                        self.exists = int(fields[1])
                    elif fields[2] == b"EXPUNGE":
                        self.exists -= 1
            elif line.startswith(tag + b" "):
                return line

    def timed(self, text):
        """Seconds from sending the command to its tagged OK; the answer is only scanned for the tag."""
        self.n += 1
        tag = b"b%d " % self.n
        del self.buf[:self.pos]
        self.pos = 0
        start = time.monotonic()
        self.send(tag + text.encode() + b"\r\n")
        scan = 0
        while True:
            if scan == 0 and self.buf.startswith(tag):
                begin = 0
            else:
                at = self.buf.find(b"\n" + tag, scan)
                begin = at + 1 if at >= 0 else -1
            if begin >= 0:
                end = self.buf.find(b"\r\n", begin)
                if end >= 0:
                    took = time.monotonic() - start
                    line = bytes(self.buf[begin:end])
                    del self.buf[:end + 2]
                    if not line.startswith(tag + b"OK"):
                        raise RuntimeError(f"{text}: {line.decode(errors='replace')}")
                    return took
                scan = begin - 1
            else:
                scan = max(len(self.buf) - len(tag) - 1, 0)
            self._fill()


class PreauthServer:
    """A pre-authenticated IMAP server process on a pipe: ours (--preauth) or Dovecot's imap."""

    def __init__(self, argv, user, env):
        pw = pwd.getpwnam(user)
        as_user = None
        if env.get("HOME"):   # Dovecot's imap: started as the user
            def as_user():
                os.setgid(pw.pw_gid)
                os.initgroups(user, pw.pw_gid)
                os.setuid(pw.pw_uid)
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  env=env, preexec_fn=as_user, cwd="/")
        self.c = IMAPConnection.over_process(self.p)
        greeting = self.c.readline()
        if not greeting.startswith(b"* PREAUTH"):
            raise RuntimeError(f"{argv[0]}: no PREAUTH greeting: {greeting[:200]!r}")

    def close(self):
        rss = peak_rss_kb(self.p.pid)
        try:
            self.c.command("LOGOUT")
        except (EOFError, OSError):
            pass
        self.p.stdin.close()
        self.p.wait()
        return rss


def memory_kb(pid):
    """(Pss, Rss) in KiB from /proc/PID/smaps_rollup, or None when the process is gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                fields = line.split()
                if fields[0] in ("Pss:", "Rss:"):
                    values[fields[0]] = int(fields[1])
    except OSError:
        return None
    return values.get("Pss:", 0), values.get("Rss:", 0)


def process_name(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ensure_dovecot():
    """Dovecot's master and imap programs, installed with apt-get when missing (a policy-rc.d
    forbids starting services during the install, and a Dovecot the packages started anyway is
    stopped). None when it cannot be had."""
    master, imap = "/usr/sbin/dovecot", "/usr/lib/dovecot/imap"
    if os.path.exists(master) and os.path.exists(imap):
        return master, imap
    if not shutil.which("apt-get"):
        return None
    print("bench: installing Dovecot (apt-get install dovecot-core dovecot-imapd) …", file=sys.stderr)
    policy = "/usr/sbin/policy-rc.d"
    made_policy = not os.path.exists(policy)
    if made_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# scripts/bench: no service starts during its apt-get install\nexit 101\n")
        os.chmod(policy, 0o755)
    r = None
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for _ in range(30):   # another apt-get may hold the lock for a while
            r = subprocess.run(["apt-get", "install", "-y", "-qq", "dovecot-core", "dovecot-imapd"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            if r.returncode == 0 or "lock" not in r.stderr:
                break
            time.sleep(10)
    finally:
        if made_policy:
            os.unlink(policy)
    try:
        with open("/run/dovecot/master.pid") as f:
            os.kill(int(f.read().strip()), signal.SIGTERM)
        print("bench: stopped the Dovecot that the package started", file=sys.stderr)
    except (OSError, ValueError):
        pass
    if os.path.exists(master) and os.path.exists(imap):
        return master, imap
    print(f"bench: Dovecot could not be installed: {(r.stderr if r else '').strip()[-300:]}", file=sys.stderr)
    return None


def dovecot_config(directory, port, limit, mail_location="maildir:~/Maildir", tls=None):
    """A Dovecot of its own: loopback, PAM + passwd, an auth cache like postamt-auth's; TLS only
    on the imaps port when `tls` is (port, certificate, key)."""
    for sub in ("run", "state"):
        os.makedirs(f"{directory}/{sub}", exist_ok=True)
    path = f"{directory}/dovecot.conf"
    ssl = "ssl = no"
    if tls:
        ssl = f"ssl = yes\nssl_cert = <{tls[1]}\nssl_key = <{tls[2]}"
        if os.path.exists("/usr/share/dovecot/dh.pem"):
            ssl += "\nssl_dh = </usr/share/dovecot/dh.pem"
    with open(path, "w") as f:
        f.write(f"""# scripts/bench: a Dovecot beside Postamt's imapd (Dovecot's defaults otherwise)
protocols = imap
listen = 127.0.0.1
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = {mail_location}
first_valid_uid = 1000
default_process_limit = {limit}
default_client_limit = {2 * limit + 100}
# postamt-auth caches successes for 1h (auth_cache_ttl), failures for 30s
auth_cache_size = 10M
auth_cache_ttl = 1 hour
auth_cache_negative_ttl = 30 secs
passdb {{
  driver = pam
  args = cache_key=%u dovecot
}}
userdb {{
  driver = passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls[0] if tls else 0}
  }}
}}
protocol imap {{
  mail_max_userip_connections = {limit}
}}
""")
    os.chmod(path, 0o644)
    return path


def envelope_wire_bytes(argv, user, env):
    """Octets the server sends for FETCH 1:* (ENVELOPE), plain and after COMPRESS DEFLATE (RFC
    4978: raw deflate both ways, wbits -15): {False: plain, True: compressed}."""
    import zlib
    sizes = {}
    for compressed in (False, True):
        s = PreauthServer(argv, user, env)
        c, fd = s.c, s.p.stdout.fileno()
        c.command("SELECT INBOX")
        counted = [0]
        if compressed:
            answer = c.command("COMPRESS DEFLATE")
            if b" OK " not in answer:
                s.close()
                return sizes
            zo, zi = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)
            plain_send = c.send
            c.send = lambda data: plain_send(zo.compress(data) + zo.flush(zlib.Z_SYNC_FLUSH))

            def recv():
                while True:
                    data = os.read(fd, 1 << 20)
                    counted[0] += len(data)
                    out = zi.decompress(data)
                    if out or not data:
                        return out
        else:
            def recv():
                data = os.read(fd, 1 << 20)
                counted[0] += len(data)
                return data
        c.recv = recv
        c.command("FETCH 1:* (ENVELOPE)")
        sizes[compressed] = counted[0]
        s.close()
    return sizes


def large_folders(args, ours_imapd, dovecot, users, work, maker):
    """Rows of the table: SELECT and UID FETCH on big folders, through pre-authenticated pipes."""
    rows = []
    for k, size in enumerate(args.sizes):
        user = users[k]
        home = pwd.getpwnam(user).pw_dir
        print(f"bench: writing {size:,} messages into two Maildirs of {user} …", file=sys.stderr)
        start = time.monotonic()
        fill_maildirs(user, [f"{home}/Maildir", f"{home}/DovecotMaildir"], size, maker)
        print(f"bench: … in {time.monotonic() - start:.1f} s", file=sys.stderr)
        servers = [("ours", [ours_imapd, "--preauth", user], dict(PATH="/usr/bin:/bin", POSTAMT_ROOT=work))]
        if dovecot:
            servers.append(("dovecot", [dovecot[1], "-c", f"{work}/dovecot-preauth.conf"],
                            dict(PATH="/usr/bin:/bin", USER=user, HOME=home, LOGNAME=user)))
        results = {}
        for name, argv, env in servers:
            r = results[name] = {}
            s = PreauthServer(argv, user, env)
            r["first"] = s.c.timed("SELECT INBOX")
            r["fetch_first"] = s.c.timed("UID FETCH 1:* (FLAGS)")
            if k == 0:
                r["full_first"] = s.c.timed("FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)")
                r["search"] = s.c.timed("SEARCH TEXT nonexistentword")
            s.close()
            if k == 0:
                wire = envelope_wire_bytes(argv, user, env)
                r["envelope_plain"], r["envelope_deflate"] = wire.get(False), wire.get(True)
            # Dovecot rescans a Maildir whose cur/ changed within the last seconds (so do
            # careful Maildir readers): "cached" is the steady state, after a pause.
            time.sleep(3)
            # The first of these sessions finds cur/'s stamp from the numbering too fresh to
            # trust (a change within the same timestamp tick would not show) and reads cur/
            # once more; the others are the steady state. Their peak RSS is reported apart.
            selects, fetches, rss = [], [], []
            for i in range(5):
                s = PreauthServer(argv, user, env)
                selects.append(s.c.timed("SELECT INBOX"))
                if i < 3:
                    fetches.append(s.c.timed("UID FETCH 1:* (FLAGS)"))
                if i == 1 and k == 0:
                    r["full"] = s.c.timed("FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)")
                rss.append(s.close() or 0)
            r["select"], r["fetch"] = median(selects), median(fetches)
            r["rss_rescan"] = rss[0]
            r["rss"] = max(rss[2:] if k == 0 else rss[1:])  # (the second session fetched everything)
            r["qresync"], r["qresync_cpu"] = qresync_resync(argv, user, env)
            if k == 0:
                count, start = 0, time.monotonic()
                while time.monotonic() - start < 2:
                    PreauthServer(argv, user, env).close()
                    count += 1
                r["starts"] = count / (time.monotonic() - start)

        def row(label, key, target="", unit="ms"):
            values = []
            for name in ("ours", "dovecot"):
                v = results.get(name, {}).get(key)
                if v is None:
                    values.append("-" if name == "ours" or dovecot else "not installed")
                elif unit == "ms":
                    values.append(f"{1000 * v:.1f} ms")
                elif unit == "MiB":
                    values.append(f"{v / 1024:.1f} MiB")
                else:
                    values.append(f"{v:.0f} {unit}")
            rows.append((label, values[0], values[1], target))

        n = f"{size:,}"
        row(f"SELECT {n}, first (numbering new/)", "first")
        row(f"SELECT {n}, cached (median of 5)", "select", "≤ 2.5 ms" if size >= 100000 else "")
        row(f"UID FETCH 1:* (FLAGS) {n}, first", "fetch_first")
        row(f"UID FETCH 1:* (FLAGS) {n}, cached (median of 3)", "fetch")
        if k == 0:
            row(f"FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE) {n}, first", "full_first")
            row(f"FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE) {n}, cached", "full")
            row(f"SEARCH TEXT (all bodies) {n}", "search")
            row(f"FETCH 1:* (ENVELOPE) {n}, octets on the wire", "envelope_plain", "", "octets")
            row(f"FETCH 1:* (ENVELOPE) {n} after COMPRESS DEFLATE, octets on the wire", "envelope_deflate",
                "", "octets")
            row("pre-authenticated start + LOGOUT", "starts", "", "sessions/s")
        row(f"session peak RSS, {n} (SELECT + UID FETCH)", "rss", "≤ 28 MiB" if size >= 100000 else "", "MiB")
        row(f"session peak RSS, {n}, the session that reads cur/ again", "rss_rescan", "", "MiB")
        row(f"QRESYNC SELECT after 100 changes, {n} (median of 3)", "qresync")
        row(f"QRESYNC SELECT after 100 changes, {n}: server CPU", "qresync_cpu", "≤ 10 ms" if size >= 100000 else "")
        for d in ("Maildir", "DovecotMaildir"):
            shutil.rmtree(f"{home}/{d}", ignore_errors=True)
    return rows


def status_values(c, mailbox="INBOX"):
    """UIDVALIDITY and HIGHESTMODSEQ from STATUS (read line by line up to the tagged answer)."""
    c.n += 1
    tag = b"b%d" % c.n
    c.send(tag + b" STATUS " + mailbox.encode() + b" (UIDVALIDITY HIGHESTMODSEQ)\r\n")
    values = {}
    while True:
        line = c.readline()
        if line.startswith(b"* STATUS"):
            words = line[line.rindex(b"(") + 1:line.rindex(b")")].split()
            values = {words[i].decode().upper(): int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
        elif line.startswith(tag + b" "):
            return values["UIDVALIDITY"], values["HIGHESTMODSEQ"]


def qresync_resync(argv, user, env, changes=100):
    """A phone client coming back (RFC 7162 §3.2.5): the folder had `changes` changes since the
    client's HIGHESTMODSEQ (half flag changes, half expunges, spread over the folder); returns
    the median wall time and server CPU (seconds) of SELECT INBOX (QRESYNC (…)) over 3 runs.
    The folder keeps the changes (the caller drops it afterwards)."""
    s = PreauthServer(argv, user, env)
    validity, modseq = status_values(s.c)
    s.c.command("SELECT INBOX")
    count = s.c.exists
    if count < 2 * changes:
        s.close()
        return None, None
    step = count // changes
    flagged = ",".join(str(1 + i * step) for i in range(0, changes, 2))
    deleted = ",".join(str(1 + i * step) for i in range(1, changes, 2))
    s.c.command(f"UID STORE {flagged} +FLAGS.SILENT (\\Flagged)")
    s.c.command(f"UID STORE {deleted} +FLAGS.SILENT (\\Deleted)")
    s.c.command("EXPUNGE")
    s.close()
    time.sleep(3)  # the steady state, as for the cached SELECT
    walls, cpus = [], []
    for _ in range(3):
        s = PreauthServer(argv, user, env)
        s.c.command("ENABLE QRESYNC")
        before = cpu_ns(s.p.pid)
        try:
            walls.append(s.c.timed(f"SELECT INBOX (QRESYNC ({validity} {modseq}))"))
        except RuntimeError:   # a server without QRESYNC (an older build): not measured
            s.close()
            return None, None
        cpus.append((cpu_ns(s.p.pid) - before) / 1e9)
        s.close()
    return median(walls), median(cpus)


def cpu_ns(pid):
    """CPU time of a process so far, in ns (sum_exec_runtime of its threads, /proc/PID/task/*/schedstat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def per_command_kind(ours_imapd, dovecot, user, work, maker, repeat=200):
    """Rows: server CPU per command of each kind, in one pre-authenticated session on an INBOX of
    100 messages (the load's commands one by one; NOOP is the cost of a command as such)."""
    home = pwd.getpwnam(user).pw_dir
    fill_maildirs(user, [f"{home}/Maildir", f"{home}/DovecotMaildir"], 100, maker)
    message = maker.make(7, f"{user}@bench.example").replace(b"\n", b"\r\n")
    kinds = [("NOOP", lambda i: ("NOOP", None)),
             ("FETCH 1:* (UID FLAGS)", lambda i: ("FETCH 1:* (UID FLAGS)", None)),
             ("FETCH n:n+9 (UID ENVELOPE)", lambda i: (f"FETCH {1 + i % 90}:{10 + i % 90} (UID ENVELOPE)", None)),
             ("FETCH n (BODY[])", lambda i: (f"FETCH {1 + i % 100} (BODY[])", None)),
             ("STORE n ±FLAGS (\\Flagged)", lambda i: (f"STORE {1 + i // 2 % 100} {'+-'[i % 2]}FLAGS (\\Flagged)", None)),
             ("SEARCH UNSEEN", lambda i: ("SEARCH UNSEEN", None)),
             ('SEARCH SUBJECT "…"', lambda i: (f'SEARCH SUBJECT "message {i % 100}"', None)),
             ("APPEND (~3 KB)", lambda i: ("APPEND INBOX", message))]
    results = {}
    servers = [("ours", [ours_imapd, "--preauth", user], dict(PATH="/usr/bin:/bin", POSTAMT_ROOT=work))]
    if dovecot:
        servers.append(("dovecot", [dovecot[1], "-c", f"{work}/dovecot-preauth.conf"],
                        dict(PATH="/usr/bin:/bin", USER=user, HOME=home, LOGNAME=user)))
    for name, argv, env in servers:
        s = PreauthServer(argv, user, env)
        s.c.command("SELECT INBOX")
        for label, make in kinds:
            before = cpu_ns(s.p.pid)
            for i in range(repeat):
                text, literal = make(i)
                answer = s.c.command(text, literal)
                if b" OK" not in answer[:12]:
                    raise RuntimeError(f"{name}: {text}: {answer.decode(errors='replace')}")
            results[(name, label)] = (cpu_ns(s.p.pid) - before) / repeat / 1e6
        s.close()
    rows = []
    for label, _ in kinds:
        values = [f"{results[(n, label)]:.3f} ms" if (n, label) in results else "not installed"
                  for n in ("ours", "dovecot")]
        rows.append((f"CPU per command, 1 session, INBOX 100: {label}", *values, ""))
    for d in ("Maildir", "DovecotMaildir"):
        shutil.rmtree(f"{home}/{d}", ignore_errors=True)
    return rows


PASSWORD = "Bench-Pass-42"


def open_session(port, user, select=True, tls=False):
    import socket
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:   # implicit TLS (imaps); the bench's self-signed certificate
        import ssl
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock)
    c = IMAPConnection.over_socket(sock)
    c.readline()
    answer = c.command(f'LOGIN {user} "{PASSWORD}"')
    if b" OK" not in answer[:8]:
        raise RuntimeError(f"LOGIN {user}: {answer.decode(errors='replace')}")
    if select:
        c.command("SELECT INBOX")
    return sock, c


def load_client(port, user, deadline, long_sessions, seed, out_fd, maker):
    """One client (a process of its own): sessions like imaptest's default until the deadline."""
    rng = random.Random(seed)
    stats = {"commands": 0, "logins": 0, "errors": 0, "failed": ""}
    flags = ["\\Flagged", "\\Seen", "\\Answered", "$Forwarded"]
    appended = 0
    while time.monotonic() < deadline:
        try:
            sock, c = open_session(port, user, select=False)
            stats["logins"] += 1
            stats["commands"] += 1
            answer = c.command("SELECT INBOX")
            stats["commands"] += 1
            budget = 1 << 60 if long_sessions else rng.randint(5, 20)
            while budget > 0 and time.monotonic() < deadline:
                budget -= 1
                n = c.exists
                what = rng.choices(["flags", "envelope", "body", "store", "search", "delete", "append", "expunge"],
                                   [20, 15, 15, 20, 10, 8, 8, 4])[0]
                if n == 0 and what not in ("search", "append"):
                    what = "append"
                if what == "flags":
                    answer = c.command("FETCH 1:* (UID FLAGS)")
                elif what == "envelope":
                    first = rng.randint(1, n)
                    answer = c.command(f"FETCH {first}:{min(n, first + 9)} (UID ENVELOPE)")
                elif what == "body":
                    answer = c.command(f"FETCH {rng.randint(1, n)} (BODY[])")
                elif what == "store":
                    answer = c.command(f"STORE {rng.randint(1, n)} {rng.choice('+-')}FLAGS ({rng.choice(flags)})")
                elif what == "search":
                    answer = c.command(rng.choice(["SEARCH FLAGGED", "SEARCH UNSEEN",
                                                   f'SEARCH SUBJECT "message {rng.randint(0, 99)}"',
                                                   f'SEARCH FROM "s{rng.randint(0, 996)}@"']))
                elif what == "delete":
                    answer = c.command(f"STORE {rng.randint(1, n)} +FLAGS.SILENT (\\Deleted)")
                elif what == "append":
                    appended += 1
                    message = maker.make(100000 + seed * 10000 + appended, f"{user}@bench.example").replace(b"\n", b"\r\n")
                    answer = c.command("APPEND INBOX", message)
                else:
                    answer = c.command("EXPUNGE")
                stats["commands"] += 1
                if b" OK" not in answer[:12]:
                    stats["errors"] += 1
                    stats["failed"] = stats["failed"] or answer.decode(errors="replace")[:200]
            c.command("LOGOUT")
            stats["commands"] += 1
            sock.close()
        except (OSError, EOFError, RuntimeError) as e:
            stats["errors"] += 1
            stats["failed"] = stats["failed"] or f"{type(e).__name__}: {e}"[:200]
            time.sleep(0.01)
    os.write(out_fd, (repr(stats) + "\n").encode())


def run_load(port, users, seconds, long_sessions, group, maker):
    """N client processes for `seconds`; returns commands, logins, errors, server CPU s, client CPU s,
    wall time and the machine's busy CPU seconds over the same time."""
    import ast
    r, w = os.pipe()

    def busy():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")

    cpu0, busy0, start = group.cpu() if group else None, busy(), time.monotonic()
    deadline = start + seconds
    pids = []
    for i, user in enumerate(users):
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                load_client(port, user, deadline, long_sessions, i + 1, w, maker)
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(w)
    client_cpu = 0.0
    for pid in pids:
        _, _, usage = os.wait4(pid, 0)
        client_cpu += usage.ru_utime + usage.ru_stime
    wall = time.monotonic() - start
    cpu = group.cpu() - cpu0 if group else None
    machine = busy() - busy0
    with os.fdopen(r) as f:
        results = [ast.literal_eval(line) for line in f if line.strip()]
    total = {key: sum(x[key] for x in results) for key in ("commands", "logins", "errors")}
    failed = next((x["failed"] for x in results if x["failed"]), "")
    return dict(total, failed=failed, server_cpu=cpu, client_cpu=client_cpu, wall=wall, machine=machine)


def idle_memory(port, users, group, names, tls=False):
    """Opens one session per user (LOGIN, SELECT INBOX), then sums Pss and Rss by process name."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(16) as pool:
        sessions = list(pool.map(lambda u: open_session(port, u, tls=tls), users))
    time.sleep(1.5)
    groups = {}
    for pid in group.pids():
        name, mem = process_name(pid), memory_kb(pid)
        if name and mem:
            g = groups.setdefault(name, [0, 0, 0])
            g[0] += 1
            g[1] += mem[0]
            g[2] += mem[1]
    for sock, c in sessions:
        try:
            c.command("LOGOUT")
        except (OSError, EOFError):
            pass
        sock.close()
    return groups


def reset_inboxes(users, maker, count=100):
    for user in users:
        fill_maildirs(user, [pwd.getpwnam(user).pw_dir + "/Maildir"], count, maker)


def wait_port(port, process, what, timeout=20):
    import socket
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} does not listen on port {port}")


def network_phases(args, name, start_server, users, maker, work):
    """Idle memory, the mixed load and long sessions against one server behind a listener."""
    reset_inboxes(users, maker)
    try:
        group = CPUGroup(name)
    except OSError as e:
        print(f"bench: no cgroup for {name} ({e}): server CPU is not measured", file=sys.stderr)
        group = None
    processes = []
    result = {}
    try:
        port, tls_port = start_server(group, processes)
        limit = max(args.idle_sessions, args.clients)
        idle_users = users[:args.idle_sessions] if "idle" in args.parts else []
        if idle_users:
            print(f"bench: {name}: {len(idle_users)} idle sessions …", file=sys.stderr)
        result["idle"] = idle_memory(port, idle_users, group, name) if group and idle_users else None
        if group and idle_users and "idle-tls" in args.parts:
            time.sleep(1.5)
            print(f"bench: {name}: {len(idle_users)} idle sessions over TLS …", file=sys.stderr)
            result["idle_tls"] = idle_memory(tls_port, idle_users, group, name, tls=True)
        for user in users[len(idle_users):args.clients]:   # the auth cache warmed for every client
            sock, c = open_session(port, user, select=False)
            c.command("LOGOUT")
            sock.close()
        time.sleep(1.5)
        for variant, long_sessions in (("mixed", False), ("long", True)):
            if variant not in args.parts:
                continue
            print(f"bench: {name}: {variant} load, {args.clients} clients, {args.seconds} s …", file=sys.stderr)
            result[variant] = run_load(port, users[:args.clients], args.seconds, long_sessions, group, maker)
            time.sleep(1.5)
    finally:
        for p in reversed(processes):
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if group:
            group.remove()
    return result


def bench_imap(args):
    if os.geteuid() != 0:
        sys.exit("bench: needs root (creates users, starts servers that log in with PAM)")
    args.sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    args.parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    unknown = args.parts - {"folders", "commands", "idle", "idle-tls", "mixed", "long"}
    if unknown:
        sys.exit(f"bench: unknown --parts: {', '.join(sorted(unknown))} (folders, commands, idle, idle-tls, mixed, long)")
    if "idle-tls" in args.parts:
        args.parts.add("idle")   # the TLS sessions are measured right after the plaintext ones
    bindir = args.bindir
    if not bindir:
        print("bench: building (release) …", file=sys.stderr)
        os.environ["PATH"] = "/opt/swift/usr/bin:" + os.environ["PATH"]
        sh("swift", "build", "-c", "release", "--static-swift-stdlib", cwd=REPO, stdout=subprocess.DEVNULL)
        bindir = subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--show-bin-path"],
                                cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()
    bindir = os.path.abspath(bindir)
    for program in ("postamt-imapd", "postamt-listen", "postamt-auth"):
        if not os.access(f"{bindir}/{program}", os.X_OK):
            sys.exit(f"bench: no {program} in {bindir}")
    dovecot = None if args.no_dovecot else ensure_dovecot()
    work = tempfile.mkdtemp(prefix="postamt-bench-imap-")
    os.chmod(work, 0o755)
    os.makedirs(f"{work}/etc/postamt")
    os.makedirs(f"{work}/run/postamt")
    cert, key = f"{work}/etc/postamt/cert.pem", f"{work}/etc/postamt/key.pem"
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench.example",
       "-keyout", key, "-out", cert, stderr=subprocess.DEVNULL)
    os.chmod(cert, 0o644)
    with open(f"{work}/etc/postamt/postamt.conf", "w") as f:
        f.write(f"# scripts/bench imap\nmyhostname = bench.example\nimap_plaintext_auth = yes\n"
                f"tls_certificate = {cert}\ntls_key = {key}\n")
    with open(f"{work}/dovecot-preauth.conf", "w") as f:   # Dovecot's imap on a pipe: the copy in ~/DovecotMaildir
        f.write(f"mail_location = maildir:~/DovecotMaildir\nlog_path = /dev/stderr\nbase_dir = {work}/dovecot-preauth\n")
    os.chmod(f"{work}/dovecot-preauth.conf", 0o644)
    pam_file = "/etc/pam.d/postamt"
    made_pam = not os.path.exists(pam_file)
    if made_pam:
        shutil.copy(os.path.join(REPO, "systemd/pam.d-postamt"), pam_file)
    maker = MessageMaker()
    users = []
    try:
        count = max(args.clients, args.idle_sessions)
        print(f"bench: creating {count + len(args.sizes)} users …", file=sys.stderr)
        tag = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        for i in range(count + len(args.sizes)):
            name = f"pb{tag}{i:03d}"
            sh("useradd", "-m", name)
            users.append(name)
        subprocess.run(["chpasswd"], input="".join(f"{u}:{PASSWORD}\n" for u in users).encode(), check=True)
        folder_users, load_users = users[count:], users[:count]

        rows = large_folders(args, f"{bindir}/postamt-imapd", dovecot, folder_users, work, maker) \
            if "folders" in args.parts else []
        if "commands" in args.parts:
            rows += per_command_kind(f"{bindir}/postamt-imapd", dovecot, folder_users[0], work, maker)

        env = dict(PATH="/usr/bin:/bin", POSTAMT_ROOT=work)
        limit = str(max(args.idle_sessions, args.clients) + 20)

        def start_ours(group, processes):
            auth = subprocess.Popen([f"{bindir}/postamt-auth", "serve", "--socket", f"{work}/run/postamt/auth"],
                                    env=env, stderr=open(f"{work}/auth.log", "w"),
                                    preexec_fn=group.enter if group else None)
            processes.append(auth)
            while not os.path.exists(f"{work}/run/postamt/auth"):
                if auth.poll() is not None:
                    raise RuntimeError(f"postamt-auth exited; see {work}/auth.log")
                time.sleep(0.05)
            ports = []
            for tls in ([], ["--tls"]):
                listen = subprocess.Popen([f"{bindir}/postamt-listen", "-1", "-c", limit, "-C", limit, "127.0.0.1",
                                           f"{bindir}/postamt-imapd", *tls], env=env, stdout=subprocess.PIPE,
                                          stderr=open(f"{work}/imapd{'-tls' if tls else ''}.log", "w"),
                                          preexec_fn=group.enter if group else None)
                processes.append(listen)
                ports.append(int(listen.stdout.readline()))
            return ports[0], ports[1]

        def start_dovecot(group, processes):
            port, tls_port = free_port(), free_port()
            config = dovecot_config(f"{work}/dovecot", port, int(limit), tls=(tls_port, cert, key))
            master = subprocess.Popen([dovecot[0], "-F", "-c", config], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=open(f"{work}/dovecot/master.log", "w"),
                                      preexec_fn=group.enter if group else None)
            processes.append(master)
            wait_port(port, master, "dovecot")
            wait_port(tls_port, master, "dovecot (imaps)")
            return port, tls_port

        network = {}
        if args.parts & {"idle", "idle-tls", "mixed", "long"}:
            network["ours"] = network_phases(args, "ours", start_ours, load_users, maker, work)
        if dovecot and network:
            network["dovecot"] = network_phases(args, "dovecot", start_dovecot, load_users, maker, work)

        def both(fn, target=""):
            values = [fn(network["ours"])]
            values.append(fn(network["dovecot"]) if "dovecot" in network else "not installed")
            return values + [target]

        def per_command(r):
            return f"{1000 * r['server_cpu'] / max(r['commands'], 1):.3f} ms" if r["server_cpu"] is not None else "-"

        for variant, label, target in (("mixed", "mixed load", "≤ Dovecot (~1 ms)"),
                                       ("long", "long sessions", "≤ Dovecot (~0.3 ms)")):
            if variant not in args.parts:
                continue
            rows.append((f"{label}: commands/s", *both(lambda r: f"{r[variant]['commands'] / r[variant]['wall']:.0f}")))
            rows.append((f"{label}: server CPU per command", *both(lambda r: per_command(r[variant]), target)))
            if variant == "mixed":
                rows.append((f"{label}: logins/s", *both(lambda r: f"{r[variant]['logins'] / r[variant]['wall']:.1f}")))
            rows.append((f"{label}: client CPU per command", *both(
                lambda r: f"{1000 * r[variant]['client_cpu'] / max(r[variant]['commands'], 1):.3f} ms")))
            rows.append((f"{label}: errors", *both(lambda r: str(r[variant]["errors"]))))

        def idle(r, names, key, which="idle"):
            g = r.get(which)
            if not g:
                return "-"
            kb = sum(g[n][key] for n in names if n in g)
            return f"{kb / args.idle_sessions / 1024:.2f} MiB" if kb else "-"

        sessions = {"ours": ["postamt-imapd"], "dovecot": ["imap"]}
        for key, label, target in ((1, "PSS", "≤ 1 MiB"), (2, "RSS", "")) if "idle" in args.parts else ():
            rows.append((f"idle session ({args.idle_sessions}, INBOX selected): {label} per session",
                         idle(network["ours"], sessions["ours"], key),
                         idle(network["dovecot"], sessions["dovecot"], key) if "dovecot" in network else "not installed",
                         target))
        # Over TLS Dovecot keeps an imap-login process per connection as the TLS proxy (its
        # default service_count = 1): a session is its imap and its imap-login.
        tls_sessions = {"ours": ["postamt-imapd"], "dovecot": ["imap", "imap-login"]}
        for key, label in ((1, "PSS"), (2, "RSS")) if "idle-tls" in args.parts else ():
            rows.append((f"idle session over TLS ({args.idle_sessions}, INBOX selected): {label} per session",
                         idle(network["ours"], tls_sessions["ours"], key, "idle_tls"),
                         idle(network["dovecot"], tls_sessions["dovecot"], key, "idle_tls") if "dovecot" in network
                         else "not installed", ""))

        others = {"ours": ["postamt-auth", "postamt-listen"],
                  "dovecot": ["dovecot", "imap-login", "auth", "anvil", "log", "config", "stats"]}

        def others_pss(name):
            g = network[name]["idle"] or {}
            return f"{sum(g[n][1] for n in others[name] if n in g) / 1024:.1f} MiB"

        if "idle" in args.parts:
            rows.append(("idle: the server's other processes, PSS in all", others_pss("ours"),
                         others_pss("dovecot") if "dovecot" in network else "not installed", ""))
        width = max(len(r[0]) for r in rows)
        print(f"\nscripts/bench imap — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, binaries {bindir}")
        print(f"Dovecot: {subprocess.run([dovecot[0], '--version'], capture_output=True, text=True).stdout.strip()}"
              if dovecot else "Dovecot: not installed")
        print(f"\n{'operation':<{width}}  {'ours':>14}  {'Dovecot':>14}  target")
        for label, ours, dv, target in rows:
            print(f"{label:<{width}}  {ours:>14}  {dv:>14}  {target}")

        if args.parts & {"mixed", "long"}:
            print(f"\nLoad: {args.clients} client processes (Python, one PAM user each) for {args.seconds} s per "
                  "variant; mixed = sessions of LOGIN, SELECT, 5–20 of FETCH 1:* (UID FLAGS) 20 %, "
                  "FETCH n:n+9 (UID ENVELOPE) 15 %, FETCH n (BODY[]) 15 %, STORE ±FLAGS 20 %, SEARCH 10 %, "
                  "STORE +FLAGS (\\Deleted) 8 %, APPEND 8 %, EXPUNGE 4 %, then LOGOUT; long = one login per "
                  "client, then only those commands. INBOXes start with 100 messages; the auth caches "
                  "are warm (every user logged in before).")
            print("Server CPU: usage_usec of a cgroup v2 holding the whole server (ours: postamt-auth, "
                  "postamt-listen and every postamt-imapd; Dovecot: the master and all its processes), "
                  "read before and after the load.")
        for name in network:
            for variant in ("mixed", "long"):
                if variant not in args.parts:
                    continue
                r = network[name][variant]
                print(f"  {name} {variant}: {r['commands']} commands in {r['wall']:.1f} s; machine busy "
                      f"{r['machine'] / r['wall']:.2f} of {os.cpu_count()} CPUs (server "
                      f"{(r['server_cpu'] or 0) / r['wall']:.2f}, clients {r['client_cpu'] / r['wall']:.2f}, "
                      f"other {(r['machine'] - (r['server_cpu'] or 0) - r['client_cpu']) / r['wall']:.2f})"
                      + ("; the clients are not the bottleneck" if r["server_cpu"] and r["client_cpu"] < r["server_cpu"] / 2
                         else "; the clients may be a bottleneck")
                      + (f"; first error: {r['failed']}" if r["failed"] else ""))
        print("Idle sessions: Pss and Rss summed from /proc/PID/smaps_rollup over the server's processes, by name:")
        for which, label in (("idle", ""), ("idle_tls", " (TLS)")):
            for name in network:
                g = network[name].get(which) or {}
                if g:
                    print(f"  {name}{label}: " + ", ".join(f"{n} ×{c}: PSS {pss / 1024:.1f} MiB, RSS {rss / 1024:.1f} MiB"
                                                           for n, (c, pss, rss) in sorted(g.items())))
    finally:
        for u in users:
            subprocess.run(["userdel", "-r", "-f", u], stderr=subprocess.DEVNULL)
        if made_pam:
            os.unlink(pam_file)
        shutil.rmtree(work, ignore_errors=True)
