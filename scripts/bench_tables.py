"""scripts/bench tables: lookups in a virtual table of --entries (100,000) addresses.

Writes the table under a temporary root, compiles it (`postamt check`, which makes the .cdb),
then times `postamt resolve` — the resolver smtpd asks at RCPT — for one address and for 2,001
addresses in one process (read from standard input): the difference divided by 2,000 is the cost of one lookup, and the
one-address run is what a per-connection program pays to open the table. The same again with
the .cdb stale (the text edited after it), when every process must parse the text. Median of 5
runs each; reported, never asserted."""
import os, subprocess, tempfile, time, statistics


def run(args, bindir):
    entries = args.entries
    root = tempfile.mkdtemp(prefix="postamt-bench-tables-")
    os.makedirs(f"{root}/etc/postamt")
    with open(f"{root}/etc/postamt/postamt.conf", "w") as f:
        f.write("myhostname = mail.bench.example\nlocal_domains = mail.bench.example\n")
    with open(f"{root}/etc/postamt/domains", "w") as f:
        f.write("example.org\n")
    virtual = f"{root}/etc/postamt/virtual"
    with open(virtual, "w") as f:
        for i in range(entries):
            f.write(f"user{i}@example.org\tu{i}@remote.example, v{i}@remote.example\n")
        f.write("@example.org\tcatchall@remote.example\n")
    postamt = f"{bindir}/postamt"
    env = dict(os.environ, POSTAMT_ROOT=root)

    def timed(argv, stdin=""):
        start = time.perf_counter()
        subprocess.run(argv, env=env, input=stdin.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - start

    start = time.perf_counter()
    subprocess.run([postamt, "check"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    compile_seconds = time.perf_counter() - start
    cdb_size = os.path.getsize(virtual + ".cdb")
    step = max(1, entries // 2000)
    many = [f"user{i}@example.org" for i in range(0, entries, step)][:2000] + ["nobody@example.org"]

    def measure():
        one = statistics.median(timed([postamt, "resolve", "user7@example.org"]) for _ in range(5))
        lots = statistics.median(timed([postamt, "resolve", "-"], "\n".join(many) + "\n") for _ in range(5))
        return one, (lots - one) / (len(many) - 1)

    compiled_open, compiled_lookup = measure()
    # Edit the text after the .cdb: readers fall back to parsing it.
    os.utime(virtual, None)
    text_open, text_lookup = measure()
    print(f"virtual table: {entries:,} entries, text {os.path.getsize(virtual) / 1e6:.1f} MB, "
          f".cdb {cdb_size / 1e6:.1f} MB, compiled by postamt check in {compile_seconds * 1000:.0f} ms")
    print(f"{'':34} {'compiled (.cdb)':>16} {'text (stale .cdb)':>18}")
    print(f"{'process start + open + 1 lookup':34} {compiled_open * 1000:13.1f} ms {text_open * 1000:15.1f} ms")
    print(f"{'one more lookup':34} {compiled_lookup * 1e6:13.1f} µs {text_lookup * 1e6:15.1f} µs")
    subprocess.run(["rm", "-rf", root])
