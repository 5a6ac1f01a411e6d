"""spam: the classifier on ../shared/corpus beside bogofilter. See scripts/bench's help for what is measured."""
import argparse, os, pwd, random, shutil, signal, string, subprocess, sys, tempfile, threading, time

from bench_common import *


def fnv1a32(text):
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def rates(scores, threshold):
    ham = [s for s, spam in scores if not spam]
    spam = [s for s, spam in scores if spam]
    fp = sum(1 for s in ham if s >= threshold)
    fn = sum(1 for s in spam if s < threshold)
    return fp, len(ham), fn, len(spam)


def one_minus_auc(scores):
    """The share of (ham, spam) pairs ordered wrongly by the scores; ties count half."""
    ordered = sorted(scores, key=lambda x: x[0])
    nspam = sum(1 for _, spam in scores if spam)
    nham = len(scores) - nspam
    rank_sum, i = 0.0, 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            j += 1
        rank = (i + j + 1) / 2
        rank_sum += rank * sum(1 for k in range(i, j) if ordered[k][1])
        i = j
    return 1 - (rank_sum - nspam * (nspam + 1) / 2) / max(nspam * nham, 1)


def fn_at_fp(scores, rate=0.001):
    """FN share at the lowest threshold that keeps FP <= rate (threshold read off these scores)."""
    ham = sorted((s for s, spam in scores if not spam), reverse=True)
    spam = [s for s, is_spam in scores if is_spam]
    allowed = int(len(ham) * rate)
    threshold = ham[allowed] if allowed < len(ham) else float("-inf")
    return sum(1 for s in spam if s <= threshold) / max(len(spam), 1)


def print_rates(label, scores, threshold, seconds, count):
    fp, nham, fn, nspam = rates(scores, threshold)
    print(f"{label:<34} FP {fp:4d}/{nham} = {100 * fp / max(nham, 1):5.2f} %   FN {fn:4d}/{nspam} = "
          f"{100 * fn / max(nspam, 1):5.2f} %   at {threshold}   {count / seconds:8.0f} messages/s (bulk)")


SA_CHECK = r"""
use strict; use warnings; use Mail::SpamAssassin; use Time::HiRes qw(time);
my $site = shift @ARGV;
my $sa = Mail::SpamAssassin->new({ site_rules_filename => $site, userprefs_filename => "$site/user_prefs",
                                   local_tests_only => 1, dont_copy_prefs => 1 });
$sa->compile_now(0);
my @t0 = times;
$| = 1;
for my $path (@ARGV) {
    open(my $f, "<", $path) or next; local $/; my $text = <$f>; close $f;
    my $mail = $sa->parse($text);
    my $status = $sa->check($mail);
    print $status->get_score(), " ", $path, "
";
    $status->finish(); $mail->finish();
}
my @t1 = times;
printf STDERR "cpu %f
", ($t1[0] + $t1[1]) - ($t0[0] + $t0[1]);
"""


def spamassassin(work, train, test, truth):
    """SpamAssassin (Debian's, rules of the package, no network tests: local_tests_only / -L) with
    its Bayes trained by sa-learn on the same training half, classifying the same test half in one
    process (rules compiled once)."""
    site = f"{work}/spamassassin"
    os.makedirs(f"{site}/bayes")
    for name in os.listdir("/etc/spamassassin"):
        if name.endswith(".pre"):
            shutil.copy(os.path.join("/etc/spamassassin", name), site)
    with open(f"{site}/local.cf", "w") as f:
        f.write(f"use_bayes 1\nbayes_auto_learn 0\nbayes_path {site}/bayes/bayes\nskip_rbl_checks 1\n"
                "use_razor2 0\nuse_pyzor 0\nuse_auto_whitelist 0\nuse_bayes_rules 1\n")
    open(f"{site}/user_prefs", "w").close()
    start = time.monotonic()
    for flag, d in (("--spam", f"{work}/train-spam"), ("--ham", f"{work}/train-ham")):
        r = subprocess.run(["sa-learn", "-L", "--siteconfigpath", site, "-p", f"{site}/user_prefs", flag, d],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return {"scores": [], "reason": f"sa-learn failed: {r.stderr.strip()[:200]}", "site": site}
    train_seconds = time.monotonic() - start
    print(f"SpamAssassin: trained in {train_seconds:.1f} s (sa-learn); classifying {len(test)} messages …", file=sys.stderr)
    scores, cpu = [], 0.0
    start = time.monotonic()
    paths = [s[0] for s in test]
    for chunk in chunks(paths, 500):
        r = subprocess.run(["perl", "-e", SA_CHECK, site] + chunk, capture_output=True, text=True)
        for line in r.stdout.splitlines():
            score, path = line.split(" ", 1)
            if path in truth:
                scores.append((float(score), truth[path]))
        for line in r.stderr.splitlines():
            if line.startswith("cpu "):
                cpu += float(line.split()[1])
    seconds = time.monotonic() - start
    if not scores:
        return {"scores": [], "reason": f"no verdicts ({r.stderr.strip()[-200:]})", "site": site}
    return {"scores": scores, "seconds": seconds, "cpu_ms": 1000 * cpu / len(scores), "train_seconds": train_seconds,
            "site": site}


def bench_spam(args):
    corpus = os.path.abspath(args.corpus or os.path.join(REPO, "..", "shared", "corpus"))
    if not os.path.isdir(os.path.join(corpus, "ham")):
        sys.exit(f"bench: no corpus at {corpus} (ham/ and spam/)")
    if not shutil.which("bogofilter") and os.geteuid() == 0:
        print("bench: installing bogofilter (apt-get)", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "bogofilter"], check=False,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    bogofilter = shutil.which("bogofilter")
    sa_learn = shutil.which("sa-learn")
    if not sa_learn and os.geteuid() == 0:
        print("bench: installing spamassassin (apt-get)", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "spamassassin"], check=False,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        sa_learn = shutil.which("sa-learn")
    print("bench: building (release) …", file=sys.stderr)
    os.environ["PATH"] = "/opt/swift/usr/bin:" + os.environ["PATH"]
    # Only the three programs measured (the whole package takes far longer on a busy machine).
    for product in ("postamt", "spam-classify", "postamt-spamcheck"):
        sh("swift", "build", "-c", "release", "--static-swift-stdlib", "--product", product, cwd=REPO, stdout=subprocess.DEVNULL)
    bin_dir = subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--show-bin-path"],
                             cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()

    samples = []   # (path, is_spam, is_test)
    for folder, is_spam in (("ham", False), ("spam", True)):
        for name in sorted(os.listdir(os.path.join(corpus, folder))):
            samples.append((os.path.join(corpus, folder, name), is_spam, fnv1a32(name) % 2 == 0))
    train = [s for s in samples if not s[2]]
    test = [s for s in samples if s[2]]
    print(f"corpus: {sum(not s[1] for s in samples)} ham, {sum(s[1] for s in samples)} spam; "
          f"training on {len(train)}, classifying {len(test)} (50/50 by FNV-1a of the file name)")

    work = tempfile.mkdtemp(prefix="postamt-bench-spam-")
    try:
        os.makedirs(f"{work}/etc/postamt")
        os.makedirs(f"{work}/db")
        with open(f"{work}/etc/postamt/postamt.conf", "w") as f:
            f.write(f"spam_database_directory = {work}/db\nspam_dns_server = 127.0.0.1:9\nspam_dns_timeout = 1s\n"
                    f"myhostname = bench.example\n")
        env = dict(os.environ, POSTAMT_ROOT=work)
        for cls in ("spam", "ham"):
            d = f"{work}/train-{cls}"
            os.makedirs(d)
            for path, is_spam, _ in train:
                if is_spam == (cls == "spam"):
                    os.symlink(path, os.path.join(d, os.path.basename(path)))
        start = time.monotonic()
        # Both classes in one call, mixed: the byte-gram model learns online and must not end on one class.
        sh(f"{bin_dir}/postamt", "spam", "learn", "--spam-from", f"{work}/train-spam", "--ham-from", f"{work}/train-ham",
           env=env, stdout=subprocess.DEVNULL)
        ours_train = time.monotonic() - start
        print(f"ours: trained in {ours_train:.2f} s (postamt spam learn --spam-from --ham-from)")

        truth = {path: is_spam for path, is_spam, _ in test}
        ours = []
        start = time.monotonic()
        for chunk in chunks([s[0] for s in test]):
            out = subprocess.run([f"{bin_dir}/spam-classify", f"{work}/db/tokens.db"] + chunk,
                                 check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                score, path = line.split(" ", 1)
                ours.append((float(score), truth[path]))
        ours_seconds = time.monotonic() - start

        bogo = []
        if bogofilter:
            bdir = f"{work}/bogofilter"
            os.makedirs(bdir)
            start = time.monotonic()
            for flag, want in (("-s", True), ("-n", False)):
                for chunk in chunks([p for p, is_spam, _ in train if is_spam == want]):
                    subprocess.run([bogofilter, "-C", "-d", bdir, flag, "-B"] + chunk, check=False)
            bogo_train = time.monotonic() - start
            print(f"bogofilter: trained in {bogo_train:.2f} s")
            start = time.monotonic()
            for chunk in chunks([s[0] for s in test]):
                out = subprocess.run([bogofilter, "-C", "-d", bdir, "-T", "-B"] + chunk,
                                     capture_output=True, text=True).stdout
                for line in out.splitlines():
                    fields = line.rsplit(" ", 2)
                    if len(fields) == 3 and fields[0] in truth:
                        bogo.append((float(fields[2]), truth[fields[0]]))
            bogo_seconds = time.monotonic() - start

        sa = spamassassin(work, train, test, truth) if sa_learn else None

        print()
        # 0.8: BAYES_80, the filter's own threshold once the byte-gram model counts fully (it does here).
        print_rates("ours (Bayes + byte grams)", ours, 0.8, ours_seconds, len(ours))
        if bogo:
            print_rates("bogofilter (default cutoff)", bogo, 0.99, bogo_seconds, len(bogo))
        else:
            print("bogofilter: not installed")
        if sa and sa["scores"]:
            print_rates("SpamAssassin (rules + Bayes, -L)", sa["scores"], 5.0, sa["seconds"], len(sa["scores"]))
            print(f"{'':<34} {sa['cpu_ms']:.1f} ms CPU/message in one process (rules compiled once), "
                  f"{1000 / max(sa['cpu_ms'], 1e-9):.0f} messages/s per core; trained in {sa['train_seconds']:.1f} s (sa-learn)")
        elif sa:
            print(f"SpamAssassin: skipped: {sa['reason']}")
        else:
            print("SpamAssassin: skipped: not installed (apt-get install spamassassin; needs root and the Debian mirror)")
        for label, scores in (("ours", ours), ("bogofilter", bogo), ("SpamAssassin", sa["scores"] if sa else [])):
            if scores:
                print(f"{label:<11} 1-AUC {100 * one_minus_auc(scores):6.3f} %   FN at FP <= 0.1 % "
                      f"{100 * fn_at_fp(scores):5.2f} % (threshold read off the test half)")
        print(f"database: ours {os.path.getsize(f'{work}/db/tokens.db') / 1e6:.1f} MB"
              + (f", bogofilter {sum(os.path.getsize(os.path.join(bdir, f)) for f in os.listdir(bdir)) / 1e6:.1f} MB"
                 if bogo else ""))
        cv = subprocess.run([f"{bin_dir}/spam-classify", "--cross-validate", corpus], capture_output=True, text=True)
        if cv.returncode == 0:
            print("ours, 5-fold cross-validation (spam-classify --cross-validate):")
            print("  " + cv.stdout.strip().replace("\n", "\n  "))
        else:
            print("ours, 5-fold cross-validation: not available in this build")
        cv = subprocess.run([f"{bin_dir}/spam-classify", "--cross-validate", corpus, "toe=1", "toemargin=0.00001", "toepasses=1"],
                            capture_output=True, text=True)
        if cv.returncode == 0:
            print("ours with spam_train_on_error (learnt in a mixed order), 5-fold cross-validation:")
            print("  " + cv.stdout.strip().replace("\n", "\n  "))
        # Drift: the corpus is one source (the SpamAssassin public corpus, spam from its spam_2
        # folder only), so "trained on one source, tested on another" can only be approximated:
        # ham sources (easy_ham trains, hard_ham is tested) and time (older half trains).
        drift = subprocess.run([f"{bin_dir}/spam-classify", "--drift", corpus, "fp=0.002"], capture_output=True, text=True)
        if drift.returncode == 0:
            print("ours under drift (spam-classify --drift; the issue asks FN <= 15 % at FP <= 0.2 %):")
            print("  " + drift.stdout.strip().replace("\n", "\n  "))

        # One process per message, start-up included.
        sample = sorted(test, key=lambda s: fnv1a32("p" + os.path.basename(s[0])))[:args.sample]

        quiet = f"{work}/quiet"
        os.makedirs(f"{quiet}/etc/postamt")
        with open(f"{quiet}/etc/postamt/postamt.conf", "w") as f:
            f.write(f"spam_database_directory = {work}/db\nspam_dns_server = 127.0.0.1:9\nspam_dns_timeout = 1s\n"
                    f"myhostname = bench.example\nspam_spf = no\nspam_dkim = no\nspam_dmarc = no\n")
        quiet_env = dict(os.environ, POSTAMT_ROOT=quiet)

        def per_process(label, command, verdict=None, environment=None):
            right = 0
            before = os.times()
            start = time.monotonic()
            for path, is_spam, _ in sample:
                with open(path, "rb") as f:
                    status = subprocess.run(command(path), stdin=f, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, env=environment or env).returncode
                if verdict and verdict(status) == is_spam:
                    right += 1
            seconds = time.monotonic() - start
            after = os.times()
            cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
            extra = f", {right}/{len(sample)} right" if verdict else ""
            print(f"{label:<44} {1000 * cpu / len(sample):6.2f} ms CPU/message {len(sample) / max(cpu, 1e-9):7.0f} messages/s per core"
                  f"  ({1000 * seconds / len(sample):.2f} ms wall){extra}")
            return seconds

        print(f"\none process per message, {len(sample)} messages:")
        per_process("/bin/true (the harness's own cost)", lambda p: ["/bin/true"])
        per_process("postamt-spamcheck (all rules, filter mode)", lambda p: [f"{bin_dir}/postamt-spamcheck"],
                    verdict=lambda status: status in (1, 2))
        per_process("postamt-spamcheck (DNS checks off)", lambda p: [f"{bin_dir}/postamt-spamcheck"],
                    verdict=lambda status: status in (1, 2), environment=quiet_env)
        if bogofilter:
            per_process("bogofilter -I", lambda p: [bogofilter, "-d", f"{work}/bogofilter", "-I", p],
                        verdict=lambda status: status == 0)
        if sa and sa["scores"]:
            # spamassassin(1) compiles its rules at every start: a few messages are enough.
            saved = sample[:]
            sample[:] = sample[:10]
            per_process("spamassassin -L -e (10 messages)", lambda p: ["spamassassin", "-L", "-e", "-x", "--siteconfigpath", sa["site"]],
                        verdict=lambda status: status != 0)
            sample[:] = saved
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- imap: postamt-imapd beside Dovecot ---------------------------------------------------------
