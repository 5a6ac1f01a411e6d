"""Helpers shared by the benchmarks (scripts/bench_*.py): nothing here is a benchmark."""
import argparse, os, pwd, random, shutil, signal, string, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def fsync_rate(directory, seconds=2.0):
    """write(4 KiB) + fsync + rename + fsync(dir), as a queue commit does, in a loop."""
    path = os.path.join(directory, "fsync-probe")
    block = os.urandom(4096)
    count, start = 0, time.monotonic()
    dfd = os.open(directory, os.O_RDONLY)
    while time.monotonic() - start < seconds:
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, block)
        os.fsync(fd)
        os.close(fd)
        os.rename(path + ".tmp", path)
        os.fsync(dfd)
        count += 1
    os.close(dfd)
    os.unlink(path)
    return count / (time.monotonic() - start)


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def chunks(items, size=500):
    return [items[i:i + size] for i in range(0, len(items), size)]


class CPUGroup:
    """A cgroup v2 of the bench's own, for the CPU time and the processes of one server."""

    def __init__(self, name):
        mount = None
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                if fields[2] == "cgroup2":
                    mount = fields[1]
                    break
        if not mount:
            raise OSError("no cgroup2 mounted")
        self.path = f"{mount}/postamt-bench-{name}-{os.getpid()}"
        os.mkdir(self.path)
        if not os.path.exists(f"{self.path}/cpu.stat"):
            os.rmdir(self.path)
            raise OSError("the cgroup has no cpu.stat")

    def enter(self):
        """preexec_fn: the new process (and all it starts) into the group."""
        with open(f"{self.path}/cgroup.procs", "w") as f:
            f.write("0")

    def cpu(self):
        with open(f"{self.path}/cpu.stat") as f:
            for line in f:
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
        return 0.0

    def pids(self):
        with open(f"{self.path}/cgroup.procs") as f:
            return [int(x) for x in f.read().split()]

    def remove(self):
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            try:
                with open(f"{self.path}/cgroup.kill", "w") as f:
                    f.write("1")
            except OSError:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.05)
        try:
            os.rmdir(self.path)
        except OSError as e:
            print(f"bench: could not remove {self.path}: {e}", file=sys.stderr)
