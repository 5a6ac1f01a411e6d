"""scripts/bench smtp --compare-postfix: Postamt beside a private Postfix, same machine, same sitting.

Both servers receive the same load from Postfix's smtp-source (a new connection per message, and
with -d the connection reused) for 1, 20 and 50 sessions, 4 KB messages to one local user,
Maildir delivery. Each server runs in a cgroup v2 of its own, so the CPU time summed over every
process of its tree, reaped children included, is the cgroup's usage_usec: for Postamt
postamt-listen, every postamt-smtpd, postamt-queue, the runner, its spawner and every
postamt-local; for Postfix its master and every daemon. fsync(2)/fdatasync(2) calls are counted
per cgroup with perf when it can (linux-perf). The load average is printed before each run.

The Postfix instance is private: its own main.cf and master.cf in a temporary directory, its own
queue, smtpd on a loopback port (never 25), chroot off, logs in a file; the system's Postfix
service, if any, is never touched. Postfix is installed with apt-get when missing (the package's
own service is not configured: "No configuration")."""
import os, pwd, random, shutil, string, subprocess, sys, tempfile, time


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def ensure_postfix():
    if shutil.which("postfix") and shutil.which("smtp-source"):
        return True
    print("bench: installing postfix (apt-get, 'No configuration') …", file=sys.stderr)
    subprocess.run(["debconf-set-selections"], input=b"postfix postfix/main_mailer_type select No configuration\n")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "postfix"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0 and shutil.which("smtp-source") is not None


class PrivatePostfix:
    def __init__(self, port, user):
        self.dir = tempfile.mkdtemp(prefix="postamt-bench-postfix-")
        os.chmod(self.dir, 0o755)
        self.config = f"{self.dir}/etc"
        os.makedirs(self.config)
        with open(f"{self.config}/main.cf", "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {self.dir}/spool
data_directory = {self.dir}/data
myhostname = bench.example
mydomain = bench.example
myorigin = bench.example
mydestination = bench.example
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
home_mailbox = Maildir/
alias_maps =
alias_database =
biff = no
maillog_file_prefixes = {self.dir}
maillog_file = {self.dir}/maillog
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 200
""")
        lines = []
        with open("/etc/postfix/master.cf.proto") as f:
            for line in f:
                fields = line.split()
                if line.startswith("smtp ") and len(fields) > 1 and fields[1] == "inet":
                    line = f"127.0.0.1:{port} inet n - n - - smtpd\n"
                elif len(fields) >= 8 and not line[0].isspace() and not line.startswith("#") and fields[4] == "y":
                    fields[4] = "n"   # no chroot: the private queue has no chroot files
                    line = " ".join(fields) + "\n"
                lines.append(line)
        with open(f"{self.config}/master.cf", "w") as f:
            f.writelines(lines)
        self.user = user
        os.makedirs(f"{self.dir}/spool")
        os.makedirs(f"{self.dir}/data")
        shutil.chown(f"{self.dir}/data", "postfix")
        # check runs post-install create-missing: the queue's subdirectories and permissions.
        subprocess.run(["postfix", "-c", self.config, "check"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self, group):
        r = subprocess.run(["postfix", "-c", self.config, "start"], preexec_fn=group.enter,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError(f"postfix start: {r.stderr.decode(errors='replace')}")

    def stop(self):
        subprocess.run(["postfix", "-c", self.config, "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def count_new(user):
    home = pwd.getpwnam(user).pw_dir
    try:
        return len(os.listdir(f"{home}/Maildir/new"))
    except FileNotFoundError:
        return 0


def fsync_counter(group_name):
    """A running perf that counts fsync/fdatasync of one cgroup; None without perf."""
    if not shutil.which("perf"):
        return None
    events = ["syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync"]
    cmd = ["perf", "stat", "-a", "-x", ",", "-o", f"/tmp/{group_name}.perf"]
    for e in events:
        cmd += ["-e", e, "-G", group_name]
    # System-wide with no workload: it counts until SIGINT.
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    if p.poll() is not None:
        return None
    return p


def fsync_count(p, group_name):
    if p is None:
        return None
    p.send_signal(2)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None
    total = 0
    try:
        with open(f"/tmp/{group_name}.perf") as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) > 2 and fields[0].isdigit():
                    total += int(fields[0])
        os.unlink(f"/tmp/{group_name}.perf")
    except (OSError, ValueError):
        return None
    return total


def drive(port, user, sessions, count, size, reuse):
    argv = ["smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(size), "-f", "bench@client.example",
            "-t", f"{user}@bench.example"]
    if reuse:
        argv.append("-d")
    return subprocess.run(argv + [f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def measure(name, group, port, user, sessions, count, size, reuse):
    before_files = count_new(user)
    cpu0 = group.cpu()
    counter = fsync_counter(os.path.basename(group.path))
    start = time.monotonic()
    r = drive(port, user, sessions, count, size, reuse)
    accepted = time.monotonic() - start
    deadline = time.monotonic() + 600
    last, last_change = -1, time.monotonic()
    while count_new(user) - before_files < count and time.monotonic() < deadline:
        # Refused or deferred messages never arrive: stop waiting after 30 s without progress.
        now_count = count_new(user)
        if now_count != last:
            last, last_change = now_count, time.monotonic()
        elif time.monotonic() - last_change > 30:
            break
        time.sleep(0.02)
    end_to_end = time.monotonic() - start
    delivered = count_new(user) - before_files
    # Let the last deliveries' processes finish before reading the CPU time.
    time.sleep(0.5)
    cpu = group.cpu() - cpu0
    fsyncs = fsync_count(counter, os.path.basename(group.path))
    return {"accepted": count / accepted, "end": delivered / end_to_end, "cpu_ms": 1000 * cpu / max(delivered, 1),
            "fsyncs": None if fsyncs is None else fsyncs / max(delivered, 1), "failed": r.returncode != 0,
            "delivered": delivered, "count": count}


def serve_process(root, env, group, log):
    """postamt-smtpd --serve mx on a listening socket of ours (fd 0, inetd's wait style)."""
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    port = sock.getsockname()[1]
    p = subprocess.Popen([f"{root}/bin/postamt-smtpd", "--serve", "mx"], env=env, stdin=sock.fileno(),
                         stdout=subprocess.DEVNULL, stderr=log, preexec_fn=group.enter)
    sock.close()
    return p, port


def train_spam(root, env, corpus, sample=300):
    """A Bayes database from a few hundred corpus messages, so the filter's classifier has tokens
    to look up; returns how many it learnt (0 without a corpus)."""
    learnt = 0
    args = []
    dirs = []
    for cls in ("ham", "spam"):
        src = os.path.join(corpus, cls)
        if not os.path.isdir(src):
            continue
        d = tempfile.mkdtemp(prefix=f"postamt-bench-train-{cls}-")
        dirs.append(d)
        for name in sorted(os.listdir(src))[:sample // 2]:
            os.symlink(os.path.join(src, name), os.path.join(d, name))
            learnt += 1
        args += [f"--{cls}-from", d]
    if args:
        # One mixed call: the byte-gram model learns online and must not end on one class.
        subprocess.run([f"{root}/bin/postamt", "spam", "learn"] + args, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    return learnt


def run(args, root, users, listen_cmd, env, CPUGroup):
    """root: an installed Postamt (setup_installation); users[0] for Postamt, users[1] for Postfix.

    Postamt runs four ways on one installation and one runner: per connection (postamt-listen
    starting postamt-smtpd), the long-lived postamt-smtpd --serve, and both of these with the
    spam filter in the path (POSTAMT_QUEUE=postamt-spamcheck-queue: Bayes and header rules,
    SPF/DKIM/DMARC off, no DNS lists; smtpd runs the check's code itself)."""
    if not ensure_postfix():
        sys.exit("bench: postfix (smtp-source) cannot be installed")
    ours = CPUGroup("ours-smtp")
    theirs = CPUGroup("postfix-smtp")
    postfix = None
    processes = []
    try:
        runner = subprocess.Popen([f"{root}/bin/postamt-runner"], env=env, stderr=open(f"{root}/runner.log", "w"),
                                  preexec_fn=ours.enter)
        processes.append(runner)
        while not os.path.isdir(f"{root}/var/spool/postamt/incoming"):
            time.sleep(0.05)
        log = open(f"{root}/smtpd.log", "w")
        listen = subprocess.Popen(listen_cmd, env=env, stdout=subprocess.PIPE, stderr=log, preexec_fn=ours.enter)
        processes.append(listen)
        our_port = int(listen.stdout.readline())
        serve, serve_port = serve_process(root, env, ours, log)
        processes.append(serve)
        learnt = train_spam(root, env, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "corpus"))
        spam_env = dict(env, POSTAMT_QUEUE=f"{root}/bin/postamt-spamcheck-queue")
        spam_listen = subprocess.Popen(listen_cmd, env=spam_env, stdout=subprocess.PIPE, stderr=log, preexec_fn=ours.enter)
        processes.append(spam_listen)
        spam_port = int(spam_listen.stdout.readline())
        spam_serve, spam_serve_port = serve_process(root, spam_env, ours, log)
        processes.append(spam_serve)
        postfix_port = 20000 + random.randrange(20000)
        postfix = PrivatePostfix(postfix_port, users[1])
        postfix.start(theirs)
        time.sleep(1.0)
        servers = [("Postamt", ours, our_port, users[0]), ("Postamt --serve", ours, serve_port, users[0]),
                   ("Postfix", theirs, postfix_port, users[1])]
        rows = []
        for sessions in [1, 20, 50]:
            for reuse in [False, True]:
                count = args.n if sessions > 1 else max(200, args.n // 5)
                label = f"{sessions:2d} session{'s' if sessions > 1 else ' '}, {'reused' if reuse else 'new   '}"
                results = {}
                for name, group, port, user in servers:
                    print(f"bench: {label}: load {load()} before {name}", file=sys.stderr)
                    results[name] = measure(name, group, port, user, sessions, count, args.size, reuse)
                rows.append((label, count, results))
        # The filter's own cost: the same load without and then with it, back to back (the
        # machine's load moves both alike), their difference per message.
        spam_rows = []
        for sessions in [1, 20]:
            count = args.n if sessions > 1 else max(200, args.n // 5)
            label = f"{sessions:2d} session{'s' if sessions > 1 else ' '}, new   "
            for name, plain_port, filtered_port in [("Postamt", our_port, spam_port), ("Postamt --serve", serve_port, spam_serve_port)]:
                print(f"bench: {label}: load {load()} before {name} (beside the spam filter's run)", file=sys.stderr)
                plain = measure("plain", ours, plain_port, users[0], sessions, count, args.size, False)
                print(f"bench: {label}: load {load()} before {name} + spam filter", file=sys.stderr)
                spam_rows.append((label, name + " + spam", count,
                                  measure("spam", ours, filtered_port, users[0], sessions, count, args.size, False), plain))

        def f(x, digits=0):
            return "?" if x is None else f"{x:.{digits}f}"
        print(f"{'':20} {'':22} {'accepted':>9} {'end to end':>11} {'CPU':>7} {'fsyncs':>7} {'vs Postfix':>21}")
        print(f"{'':20} {'':22} {'msg/s':>9} {'msg/s':>11} {'ms/msg':>7} {'/msg':>7} {'end to end':>11} {'CPU':>9}")
        for label, count, results in rows:
            b = results["Postfix"]
            for name, *_ in servers:
                a = results[name]
                ratio = "" if name == "Postfix" else f"{a['end'] / max(b['end'], 1e-9):10.2f}x {a['cpu_ms'] / max(b['cpu_ms'], 1e-9):8.2f}x"
                print(f"{label:20} {name:22} {f(a['accepted']):>9} {f(a['end']):>11} {f(a['cpu_ms'], 2):>7} {f(a['fsyncs'], 1):>7} {ratio}"
                      + ("  (smtp-source reported errors)" if a["failed"] else "")
                      + (f"  (only {a['delivered']} of {a['count']} delivered)" if a["delivered"] < a["count"] else ""))
        for label, name, count, a, plain in spam_rows:
            print(f"{label:20} {name:22} {f(a['accepted']):>9} {f(a['end']):>11} {f(a['cpu_ms'], 2):>7} {f(a['fsyncs'], 1):>7}"
                  + f"  filter: +{f(a['cpu_ms'] - plain['cpu_ms'], 2)} ms/msg (without it, just before: {f(plain['cpu_ms'], 2)})"
                  + ("  (smtp-source reported errors)" if a["failed"] else "")
                  + (f"  (only {a['delivered']} of {a['count']} delivered)" if a["delivered"] < a["count"] else ""))
        print(f"({args.n} messages of {args.size} bytes per run, {max(200, args.n // 5)} with one session; CPU: usage_usec of each "
              f"server's cgroup v2; spam filter: Bayes trained on {learnt} corpus messages, header rules, no network checks)")
    finally:
        for p in reversed(processes):
            p.terminate()
            p.wait()
        if postfix:
            postfix.stop()
        ours.remove()
        theirs.remove()
