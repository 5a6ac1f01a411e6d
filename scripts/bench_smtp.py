"""smtp: SMTP sessions against postamt-smtpd behind postamt-listen (and Postfix beside it). See scripts/bench's help for what is measured."""
import argparse, os, pwd, random, shutil, signal, string, subprocess, sys, tempfile, threading, time

from bench_common import *


def setup_installation(prefix, users_count, extra_conf=""):
    root = tempfile.mkdtemp(prefix=prefix)
    os.chmod(root, 0o755)
    print(f"bench: building and installing a release under {root} …", file=sys.stderr)
    sh(os.path.join(HERE, "install"), "--root", root, stdout=subprocess.DEVNULL)
    os.chmod(os.path.join(root, "etc"), 0o755)
    with open(os.path.join(root, "etc/postamt/postamt.conf"), "w") as f:
        f.write(f"program_directory = {root}/bin\nmyhostname = bench.example\n{extra_conf}")
    open(os.path.join(root, "etc/aliases"), "w").close()
    users = []
    for _ in range(users_count):
        name = "pb" + "".join(random.choice(string.ascii_lowercase) for _ in range(8))
        sh("useradd", "-m", name)
        users.append(name)
    return root, users


def smtp_session(port, sender, recipient, message, hold=False):
    """One connection, one message, pipelined (RFC 2920); returns True on 250."""
    import socket
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line or line[3:4] != b"-":
                return line

    ok = reply().startswith(b"220")
    s.sendall(b"EHLO bench.client\r\n")
    reply()
    s.sendall(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode())
    for _ in range(3):
        ok = reply()[:1] in (b"2", b"3") and ok
    s.sendall(message + b".\r\n")
    ok = reply().startswith(b"250") and ok
    s.sendall(b"QUIT\r\n")
    reply()
    s.close()
    return ok


def bench_smtp(args):
    if os.geteuid() != 0:
        sys.exit("bench: needs root (creates users, runs the privileged spawner, smtpd drops to postamt)")
    if args.compare_postfix:
        import bench_smtp_compare
        root, users = setup_installation("postamt-bench-smtp-", max(2, args.users),
                                         "local_domains = bench.example\nspam_spf = no\nspam_dkim = no\nspam_dmarc = no\n"
                                         # --serve's limits, as high as postamt-listen's -c/-C below
                                         "listen_connection_limit = 200\nlisten_client_limit = 200\n")
        try:
            listen = [f"{root}/bin/postamt-listen", "-1", "-c", "200", "-C", "200", "127.0.0.1",
                      f"{root}/bin/postamt-smtpd", "mx"]
            bench_smtp_compare.run(args, root, users, listen, dict(os.environ, POSTAMT_ROOT=root), CPUGroup)
        finally:
            for u in users:
                subprocess.run(["userdel", "-r", "-f", u], stderr=subprocess.DEVNULL)
            shutil.rmtree(root, ignore_errors=True)
        return
    root, users = setup_installation("postamt-bench-smtp-", args.users)
    cert, key = f"{root}/etc/postamt/cert.pem", f"{root}/etc/postamt/key.pem"
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
       "-subj", "/CN=localhost", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(root, "etc/postamt/postamt.conf"), "a") as f:
        f.write(f"local_domains = bench.example\nsmtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n")
    env = dict(os.environ, POSTAMT_ROOT=root)
    runner = subprocess.Popen([f"{root}/bin/postamt-runner"], env=env, stderr=open(f"{root}/runner.log", "w"))
    listen = None
    try:
        while not os.path.isdir(f"{root}/var/spool/postamt/incoming"):
            time.sleep(0.05)
        time.sleep(0.3)
        limit = str(args.sessions + 10)
        listen = subprocess.Popen([f"{root}/bin/postamt-listen", "-1", "-c", limit, "-C", limit, "127.0.0.1",
                                   f"{root}/bin/postamt-smtpd", "mx"], env=env, stdout=subprocess.PIPE,
                                  stderr=open(f"{root}/smtpd.log", "w"))
        port = int(listen.stdout.readline())
        body = ("".join(random.choice(string.ascii_letters + " ") for _ in range(76)) + "\r\n") * (args.size // 78)
        homes = [pwd.getpwnam(u).pw_dir for u in users]

        def delivered():
            n = 0
            for h in homes:
                try:
                    n += len(os.listdir(f"{h}/Maildir/new"))
                except FileNotFoundError:
                    pass
            return n

        # Start-up time: connect to greeting, one connection at a time.
        import socket
        probes = []
        for _ in range(200):
            t0 = time.monotonic()
            s = socket.create_connection(("127.0.0.1", port))
            s.recv(512)
            probes.append(time.monotonic() - t0)
            s.sendall(b"QUIT\r\n")
            s.recv(512)
            s.close()
        probes.sort()

        source = shutil.which("smtp-source")
        failures = 0
        start = time.monotonic()
        if source:
            client = "Postfix smtp-source"
            r = subprocess.run([source, "-s", str(args.sessions), "-m", str(args.n), "-l", str(args.size),
                                "-f", "bench@client.example", "-t", f"{users[0]}@bench.example", f"127.0.0.1:{port}"],
                               stderr=subprocess.PIPE)
            failures = 0 if r.returncode == 0 else 1
        else:
            client = "scripts/bench's own client (smtp-source is not installed)"
            counter = iter(range(args.n))
            lock_ = threading.Lock()
            errors = []

            def worker():
                while True:
                    with lock_:
                        i = next(counter, None)
                    if i is None:
                        return
                    message = f"Subject: bench {i}\r\nFrom: bench@client.example\r\n\r\n{body}".encode()
                    try:
                        if not smtp_session(port, "bench@client.example", f"{users[i % len(users)]}@bench.example", message):
                            errors.append(i)
                    except OSError:
                        errors.append(i)

            threads = [threading.Thread(target=worker) for _ in range(args.sessions)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            failures = len(errors)
        accepted = time.monotonic() - start
        expected = args.n - failures
        while delivered() < expected:
            if runner.poll() is not None:
                sys.exit("bench: the runner exited; see " + root + "/runner.log")
            time.sleep(0.05)
        end_to_end = time.monotonic() - start

        # Peak RSS of one session: STARTTLS, one message, then held open while we look.
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = socket.create_connection(("127.0.0.1", port))
        f = s.makefile("rb")

        def reply(stream):
            while True:
                line = stream.readline()
                if not line or line[3:4] != b"-":
                    return line

        reply(f)
        s.sendall(b"EHLO c\r\nSTARTTLS\r\n")
        reply(f)
        reply(f)
        t = ctx.wrap_socket(s, server_hostname="localhost")
        tf = t.makefile("rb")
        t.sendall(f"EHLO c\r\nMAIL FROM:<b@client.example>\r\nRCPT TO:<{users[0]}@bench.example>\r\nDATA\r\n".encode())
        for _ in range(4):
            reply(tf)
        t.sendall(b"Subject: rss\r\n\r\n" + body.encode() + b".\r\n")
        reply(tf)
        rss = None
        for task in os.listdir(f"/proc/{listen.pid}/task"):
            with open(f"/proc/{listen.pid}/task/{task}/children") as c:
                for child in c.read().split():
                    rss = max(rss or 0, peak_rss_kb(int(child)) or 0)
        t.sendall(b"QUIT\r\n")
        t.close()

        size = len(body) + 60
        print(f"client:                {client}")
        print(f"messages:              {args.n} of ~{size} bytes, one per connection, {args.sessions} concurrent sessions"
              + (f"  FAILURES: {failures}" if failures else ""))
        print(f"accepted (250):        {args.n / accepted:8.0f} messages/s ({accepted:.1f} s)")
        print(f"end to end (Maildir):  {args.n / end_to_end:8.0f} messages/s ({end_to_end:.1f} s)")
        print(f"smtpd start-up:        {1000 * probes[len(probes) // 2]:8.2f} ms median connect-to-greeting "
              f"(p90 {1000 * probes[len(probes) * 9 // 10]:.2f} ms, {len(probes)} sequential connections)")
        print(f"smtpd peak RSS:        {rss} KiB per session (STARTTLS + one message)" if rss else "smtpd peak RSS:        unknown")
    finally:
        if listen:
            listen.terminate()
            listen.wait()
        runner.terminate()
        runner.wait()
        for u in users:
            subprocess.run(["userdel", "-r", "-f", u], stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
