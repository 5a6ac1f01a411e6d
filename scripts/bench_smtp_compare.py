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
    while count_new(user) - before_files < count and time.monotonic() < deadline:
        time.sleep(0.02)
    end_to_end = time.monotonic() - start
    delivered = count_new(user) - before_files
    # Let the last deliveries' processes finish before reading the CPU time.
    time.sleep(0.5)
    cpu = group.cpu() - cpu0
    fsyncs = fsync_count(counter, os.path.basename(group.path))
    return {"accepted": count / accepted, "end": delivered / end_to_end, "cpu_ms": 1000 * cpu / max(delivered, 1),
            "fsyncs": None if fsyncs is None else fsyncs / max(delivered, 1), "failed": r.returncode != 0,
            "delivered": delivered}


def run(args, root, users, listen_cmd, env, CPUGroup):
    """root: an installed Postamt (setup_installation); users[0] for Postamt, users[1] for Postfix."""
    if not ensure_postfix():
        sys.exit("bench: postfix (smtp-source) cannot be installed")
    ours = CPUGroup("ours-smtp")
    theirs = CPUGroup("postfix-smtp")
    postfix = None
    runner = listen = None
    try:
        runner = subprocess.Popen([f"{root}/bin/postamt-runner"], env=env, stderr=open(f"{root}/runner.log", "w"),
                                  preexec_fn=ours.enter)
        while not os.path.isdir(f"{root}/var/spool/postamt/incoming"):
            time.sleep(0.05)
        listen = subprocess.Popen(listen_cmd, env=env, stdout=subprocess.PIPE, stderr=open(f"{root}/smtpd.log", "w"),
                                  preexec_fn=ours.enter)
        our_port = int(listen.stdout.readline())
        postfix_port = 20000 + random.randrange(20000)
        postfix = PrivatePostfix(postfix_port, users[1])
        postfix.start(theirs)
        time.sleep(1.0)
        rows = []
        for sessions in [1, 20, 50]:
            for reuse in [False, True]:
                count = args.n if sessions > 1 else max(200, args.n // 5)
                label = f"{sessions:2d} session{'s' if sessions > 1 else ' '}, {'reused' if reuse else 'new   '} connections"
                print(f"bench: {label}: load {load()} before Postamt", file=sys.stderr)
                a = measure("postamt", ours, our_port, users[0], sessions, count, args.size, reuse)
                print(f"bench: {label}: load {load()} before Postfix", file=sys.stderr)
                b = measure("postfix", theirs, postfix_port, users[1], sessions, count, args.size, reuse)
                rows.append((label, count, a, b))
        print(f"{'':34} {'accepted msg/s':>22} {'end to end msg/s':>22} {'CPU ms/msg':>20} {'fsyncs/msg':>16}")
        print(f"{'':34} {'Postamt':>10} {'Postfix':>11} {'Postamt':>10} {'Postfix':>11} {'Postamt':>9} {'Postfix':>10} {'Postamt':>7} {'Postfix':>8}")
        for label, count, a, b in rows:
            def f(x, digits=0):
                return "?" if x is None else f"{x:.{digits}f}"
            print(f"{label:34} {f(a['accepted']):>10} {f(b['accepted']):>11} {f(a['end']):>10} {f(b['end']):>11} "
                  f"{f(a['cpu_ms'], 2):>9} {f(b['cpu_ms'], 2):>10} {f(a['fsyncs'], 1):>7} {f(b['fsyncs'], 1):>8}"
                  + ("  (smtp-source reported errors)" if a["failed"] or b["failed"] else ""))
        for label, count, a, b in rows:
            print(f"ratio {label}: end to end {a['end'] / max(b['end'], 1e-9):.2f}x Postfix's, CPU {a['cpu_ms'] / max(b['cpu_ms'], 1e-9):.2f}x")
        print(f"({count} messages of {args.size} bytes per run, 200+ with one session; CPU: usage_usec of each server's cgroup v2)")
    finally:
        if listen:
            listen.terminate()
            listen.wait()
        if runner:
            runner.terminate()
            runner.wait()
        if postfix:
            postfix.stop()
        ours.remove()
        theirs.remove()
