"""queue: messages straight into postamt-queue, end to end into Maildir/new. See scripts/bench's help for what is measured."""
import argparse, os, pwd, random, shutil, signal, string, subprocess, sys, tempfile, threading, time

from bench_common import *


def bench_queue(args):
    if os.geteuid() != 0:
        sys.exit("bench: needs root (creates users, runs the privileged spawner)")
    root = tempfile.mkdtemp(prefix="postamt-bench-")
    os.chmod(root, 0o755)
    print(f"bench: building and installing a release under {root} …", file=sys.stderr)
    sh(os.path.join(HERE, "install"), "--root", root, stdout=subprocess.DEVNULL)
    os.chmod(os.path.join(root, "etc"), 0o755)
    with open(os.path.join(root, "etc/postamt/postamt.conf"), "w") as f:
        f.write(f"program_directory = {root}/bin\nmyhostname = bench.example\n")
    open(os.path.join(root, "etc/aliases"), "w").close()
    users = []
    for _ in range(args.users):
        name = "pb" + "".join(random.choice(string.ascii_lowercase) for _ in range(8))
        sh("useradd", "-m", name)
        users.append(name)
    env = dict(os.environ, POSTAMT_ROOT=root)
    runner = subprocess.Popen([f"{root}/bin/postamt-runner"], env=env, stderr=open(f"{root}/runner.log", "w"))
    try:
        lock = f"{root}/var/spool/postamt/incoming"
        while not os.path.isdir(lock):
            time.sleep(0.05)
        time.sleep(0.3)
        body = ("".join(random.choice(string.ascii_letters + " ") for _ in range(76)) + "\n") * (args.size // 77)
        queue = f"{root}/bin/postamt-queue"
        counter = iter(range(args.n))
        lock_ = threading.Lock()
        failures = []

        def inject():
            while True:
                with lock_:
                    i = next(counter, None)
                if i is None:
                    return
                user = users[i % len(users)]
                message = f"Subject: bench {i}\nFrom: bench@bench.example\n\n{body}".encode()
                envelope = f"Fbench@bench.example\0T{user}@bench.example\0\0".encode()
                r, w = os.pipe()
                os.write(w, envelope)
                os.close(w)
                p = subprocess.run([queue], input=message, stdout=r, stderr=subprocess.PIPE, env=env)
                os.close(r)
                if p.returncode != 0:
                    failures.append(p.stderr.decode())

        start = time.monotonic()
        threads = [threading.Thread(target=inject) for _ in range(args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        injected = time.monotonic() - start
        homes = [pwd.getpwnam(u).pw_dir for u in users]

        def delivered():
            n = 0
            for h in homes:
                try:
                    n += len(os.listdir(f"{h}/Maildir/new"))
                except FileNotFoundError:
                    pass
            return n

        while delivered() < args.n:
            if runner.poll() is not None:
                sys.exit("bench: the runner exited; see " + root + "/runner.log")
            time.sleep(0.05)
        end_to_end = time.monotonic() - start
        rss = peak_rss_kb(runner.pid)
        fs = fsync_rate(f"{root}/var/spool/postamt/tmp")
        print(f"messages:              {args.n} of {len(body) + 50} bytes to {len(users)} users, {args.workers} injectors")
        print(f"injection:             {args.n / injected:8.0f} messages/s ({injected:.1f} s){'' if not failures else f'  FAILURES: {len(failures)}'}")
        print(f"end to end (Maildir):  {args.n / end_to_end:8.0f} messages/s ({end_to_end:.1f} s)")
        print(f"runner peak RSS:       {rss} KiB" if rss else "runner peak RSS:       unknown")
        print(f"disk fsync rate:       {fs:8.0f} commits/s (write+fsync+rename+dir fsync, the ceiling)")
        if failures:
            print(failures[0], file=sys.stderr)
    finally:
        runner.terminate()
        runner.wait()
        for u in users:
            subprocess.run(["userdel", "-r", "-f", u], stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
