"""webmail: postamt-webmail behind postamt-listen (implicit TLS, a throw-away certificate, PAM
through postamt-auth), one user with a 10,000-message INBOX. See scripts/bench's help for what
is measured; the numbers are printed, never asserted."""
import socket
import http.client, os, pwd, random, re, shutil, ssl, string, subprocess, sys, tempfile, time, urllib.parse

from bench_common import *
from bench_imap import MessageMaker, fill_maildirs, PASSWORD

PROGRAMS = ["postamt-webmail", "postamt-listen", "postamt-auth", "postamt-queue", "postamt-runner", "postamt-local",
            "postamt-remote", "postamt-spamcheck", "postamt", "sendmail"]


def install(args, root):
    if args.bindir:
        bindir = os.path.abspath(args.bindir)
        os.makedirs(f"{root}/bin")
        for program in PROGRAMS:
            if os.path.exists(f"{bindir}/{program}"):
                shutil.copy(f"{bindir}/{program}", f"{root}/bin/{program}")
        for program in ("postamt-webmail", "postamt-listen", "postamt-auth", "postamt-queue", "postamt-runner"):
            if not os.access(f"{root}/bin/{program}", os.X_OK):
                sys.exit(f"bench: no {program} in {bindir}")
        try:
            import grp
            os.chown(f"{root}/bin/postamt-queue", 0, grp.getgrnam("postamt").gr_gid)
            os.chmod(f"{root}/bin/postamt-queue", 0o2755)
        except KeyError:
            pass
        os.makedirs(f"{root}/etc/postamt", exist_ok=True)
        return "the programs of " + bindir
    print(f"bench: building and installing a release under {root} …", file=sys.stderr)
    sh(os.path.join(HERE, "install"), "--root", root, stdout=subprocess.DEVNULL)
    os.chmod(os.path.join(root, "etc"), 0o755)
    return "a release build"


class Client:
    """One HTTPS connection to the webmail (keep-alive), with the session cookie once logged in."""

    def __init__(self, port):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.port = port
        self.connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=120)
        self.cookie = None

    def request(self, method, path, form=None):
        headers = {}
        if self.cookie:
            headers["Cookie"] = "__Host-postamt_session=" + self.cookie
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"https://127.0.0.1:{self.port}"
            body = urllib.parse.urlencode(form)
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        return response, response.read().decode("utf-8", "replace")

    def close(self):
        self.connection.close()


def bench_webmail(args):
    if os.geteuid() != 0:
        sys.exit("bench: needs root (creates a user, starts servers that log in with PAM and become the user)")
    root = tempfile.mkdtemp(prefix="postamt-bench-webmail-")
    os.chmod(root, 0o755)
    built = install(args, root)
    os.makedirs(f"{root}/run/postamt", exist_ok=True)
    cert, key = f"{root}/etc/postamt/cert.pem", f"{root}/etc/postamt/key.pem"
    # An ECDSA P-256 key, as certbot makes by default since 2.0 (an RSA-2048 key adds about 1 ms
    # of CPU to each handshake here).
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=bench.example",
       "-keyout", key, "-out", cert, stderr=subprocess.DEVNULL)
    os.chmod(cert, 0o644)
    with open(f"{root}/etc/postamt/postamt.conf", "w") as f:
        f.write(f"# scripts/bench webmail\nprogram_directory = {root}/bin\nmyhostname = bench.example\n"
                f"tls_certificate = {cert}\ntls_key = {key}\nauth_failure_delay = 0s\n")
    open(f"{root}/etc/aliases", "w").close()
    pam_file = "/etc/pam.d/postamt"
    made_pam = not os.path.exists(pam_file)
    if made_pam:
        shutil.copy(os.path.join(REPO, "systemd/pam.d-postamt"), pam_file)
    user = "pw" + "".join(random.choice(string.ascii_lowercase) for _ in range(8))
    sh("useradd", "-m", user)
    subprocess.run(["chpasswd"], input=f"{user}:{PASSWORD}\n".encode(), check=True)
    env = dict(PATH="/usr/bin:/bin", POSTAMT_ROOT=root)
    group = CPUGroup("webmail")
    processes = []
    try:
        print(f"bench: {args.messages} messages into {user}'s INBOX …", file=sys.stderr)
        home = pwd.getpwnam(user).pw_dir
        fill_maildirs(user, [f"{home}/Maildir"], args.messages, MessageMaker())
        runner = subprocess.Popen([f"{root}/bin/postamt-runner"], env=env, stderr=open(f"{root}/runner.log", "w"))
        processes.append(runner)
        while not os.path.isdir(f"{root}/var/spool/postamt/incoming"):
            if runner.poll() is not None:
                sys.exit(f"bench: the runner exited; see {root}/runner.log")
            time.sleep(0.05)
        auth = subprocess.Popen([f"{root}/bin/postamt-auth", "serve", "--socket", f"{root}/run/postamt/auth"], env=env,
                                stderr=open(f"{root}/auth.log", "w"), preexec_fn=group.enter)
        processes.append(auth)
        while not os.path.exists(f"{root}/run/postamt/auth"):
            if auth.poll() is not None:
                sys.exit(f"bench: postamt-auth exited; see {root}/auth.log")
            time.sleep(0.05)
        listen = subprocess.Popen([f"{root}/bin/postamt-listen", "-1", "-c", "500", "-C", "500", "127.0.0.1", f"{root}/bin/postamt-webmail"],
                                  env=env, stdout=subprocess.PIPE, stderr=open(f"{root}/webmail.log", "w"), preexec_fn=group.enter)
        processes.append(listen)
        port = int(listen.stdout.readline())

        rows = []

        def measure(label, count, action, note=""):
            """Wall time per call (median, ms) and the server's CPU per call (the cgroup: postamt-auth,
            postamt-listen, every postamt-webmail and what they start, ms)."""
            walls = []
            cpu_before = group.cpu()
            for i in range(count):
                start = time.monotonic()
                action(i)
                walls.append((time.monotonic() - start) * 1000)
            cpu = (group.cpu() - cpu_before) * 1000 / count
            rows.append((label, f"{median(walls):.2f}", f"{cpu:.2f}", str(count), note))

        # A new connection: TLS handshake and one page without a session (the process start).
        def start(_):
            c = Client(port)
            r, _ = c.request("GET", "/login")
            assert r.status == 200, r.status
            c.close()
        measure("connection + GET /login (no session)", args.repeat, start, "per-connection start")

        # The same through `postamt-webmail --serve` (one server, a forked child per connection).
        serving = socket.socket()
        serving.bind(("127.0.0.1", 0))
        serving.listen(128)
        serve_port = serving.getsockname()[1]
        server = subprocess.Popen([f"{root}/bin/postamt-webmail", "--serve"], stdin=serving.fileno(), env=env,
                                  stderr=open(f"{root}/webmail-serve.log", "w"), preexec_fn=group.enter)
        processes.append(server)
        serving.close()

        def start_served(_):
            c = Client(serve_port)
            r, _ = c.request("GET", "/login")
            assert r.status == 200, r.status
            c.close()
        start_served(0)
        measure("connection + GET /login, --serve", args.repeat, start_served, "per-connection start, --serve")
        server.terminate()
        server.wait()

        def login(_):
            c = Client(port)
            r, _ = c.request("POST", "/login", {"user": user, "password": PASSWORD})
            assert r.status == 303, f"login: {r.status} (see {root}/webmail.log, {root}/auth.log)"
            c.cookie = re.match(r"__Host-postamt_session=([0-9a-f]{64});", r.getheader("Set-Cookie")).group(1)
            c.close()
            login.cookie = c.cookie
        measure("login (new connection, PAM, become the user)", args.repeat, login)
        cookie = login.cookie

        # The 10,000-message INBOX: the first open numbers the folder (uid list, message cache).
        def first_page(_):
            c = Client(port)
            c.cookie = cookie
            r, page = c.request("GET", "/folder?f=INBOX")
            assert r.status == 200 and "message " in page, r.status
            c.close()
        measure(f"INBOX list page, first open ({args.messages} messages, new connection)", 1, first_page)
        measure(f"INBOX list page, cached (new connection)", args.repeat, first_page)

        kept = Client(port)
        kept.cookie = cookie
        kept.request("GET", "/folder?f=INBOX")

        def list_page(_):
            r, _ = kept.request("GET", "/folder?f=INBOX")
            assert r.status == 200
        measure("INBOX list page, cached (same connection)", args.repeat, list_page, "target <= 50 ms server time")

        def open_message(i):
            r, page = kept.request("GET", f"/message?f=INBOX&uid={args.messages - i}")
            assert r.status == 200 and "Mark unread" in page, r.status
        measure("open a message (same connection; marks it read)", args.repeat, open_message)

        r, page = kept.request("GET", "/compose")
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)

        def send(i):
            r, page = kept.request("POST", "/compose", {"csrf": token, "from": f"{user}@bench.example", "to": f"{user}@bench.example",
                                                        "subject": f"bench {i}", "body": "A short message from the bench.\n" * 20})
            assert r.status == 200 and "is on its way" in page, f"send: {r.status} {page[-400:]}"
        measure("send a message (same connection; queue, Sent copy)", max(1, args.repeat // 2), send)

        def unread(_):
            r, _ = kept.request("GET", "/unread")
            assert r.status == 200
        measure("GET /unread (the page script's poll)", args.repeat, unread)

        def search(_):
            r, page = kept.request("GET", "/search?f=INBOX&q=zebra&in=any")
            assert r.status == 200
        measure("search INBOX, From/To/Subject/body (same connection)", max(1, args.repeat // 4), search,
                "newest webmail_search_limit (5000)")

        # Peak RSS of the connection's process, which has served all of the above.
        rss = None
        for pid in group.pids():
            if process_name(pid) == "postamt-webmail":
                rss = peak_rss_kb(pid)
        kept.close()

        print(f"\npostamt-webmail, {built}; one user, INBOX of {args.messages} messages of 2–4 KB")
        print(f"{'':58} {'wall ms':>9} {'CPU ms':>8} {'runs':>5}")
        for label, wall, cpu, count, note in rows:
            print(f"{label:58} {wall:>9} {cpu:>8} {count:>5}  {note}")
        print(f"peak RSS of one connection (after all of the above): {rss} KiB" if rss else "peak RSS: unknown")
        print("(wall: median per call as the client saw it; CPU: the server's processes per call, averaged)")
    finally:
        group.remove()
        for p in reversed(processes):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["userdel", "-r", user], stderr=subprocess.DEVNULL)
        if made_pam:
            os.unlink(pam_file)
        shutil.rmtree(root, ignore_errors=True)


def process_name(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
