#!/usr/bin/env python3
"""Bad input at the surface: every example program in $TG_BUILDDIR/examples
(found by listing the directory, so new ones are covered) is fed

  - an unknown flag, a stray positional argument, a flag missing its value,
    a value outside a flag's choices;
  - malformed numbers ("abc", "1e", "0x10", "", "1.5" for integers, "nan",
    "inf" for reals) for every numeric flag its --help lists;
  - out-of-range values read from the ranges --help prints ("in [1, 100]",
    "> 0", ">= 0"), and a negative --batch, zero --epochs, --lr 0 and -1
    wherever those flags exist;
  - --data: a missing directory, an empty one, one whose image files are
    label files (the wrong kind of IDX), one whose image file is truncated,
    one whose image "file" is a directory (unreadable);
  - --load: a missing file, a file that is not a checkpoint, and a checkpoint
    of another architecture (mlp --hidden 16 loaded by mlp --hidden 32 and
    16,8, and by every other program with --load): the message must name
    the first tensor whose name or shape differs;
  - --text (char_rnn): a missing and an empty file; --save into a missing
    directory;
  - a FIFO with no writer (issue 21) as an image file of --data, as --load,
    as --text and as --save: refused at once with a message naming the FIFO
    (before, opening it blocked forever, and --save's rename replaced it).

Each case must exit non-zero and below 128 (no signal), say something on
stderr that names the flag or file at fault, and print no sanitizer report.
Usage errors of the programs built on examples/common.c must exit 2. Data
is a small synthetic MNIST-layout set in a temp dir. Exit 0 pass, 1 fail.
Standard library only.
"""
import concurrent.futures as cf
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

from testlib import EXAMPLES, run_example

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:",
                   "Segmentation fault", "core dumped")
failures = []
n_cases = 0


def run(prog, args, timeout=120):
    return run_example(prog, *args, timeout=timeout)


def check(prog, args, needles=(), want_rc=None):
    """Runs one bad command line; returns a failure string or None."""
    what = "%s %s" % (prog, " ".join(repr(a) if (not a or " " in a) else a for a in args))
    try:
        rc, out, err = run(prog, args)
    except subprocess.TimeoutExpired:
        return "%s: timed out (the bad input was not caught before real work started)" % what
    for m in SANITIZER_MARKS:
        if m in err:
            return "%s: sanitizer/crash report on stderr:\n%s" % (what, err[-3000:])
    if rc == 0:
        return "%s: exited 0 (stdout tail %r)" % (what, out[-300:])
    if rc < 0 or rc >= 128:
        return "%s: killed / crashed, exit %d:\n%s" % (what, rc, err[-2000:])
    if want_rc is not None and rc != want_rc:
        return "%s: exit %d, want %d: %s" % (what, rc, want_rc, err.strip()[-500:])
    if not err.strip():
        return "%s: exit %d with nothing on stderr" % (what, rc)
    for n in needles:
        if n not in err:
            return "%s: stderr does not mention %r: %s" % (what, n, err.strip()[-500:])
    return None


# ---- --help parsing ----

FLAG_RE = re.compile(r"^ {2}(?:-h, )?--([a-z0-9][a-z0-9-]*)(?:[ =](\S+))?(.*)$")


def parse_help(text):
    """{name: (metavar, description)} from a --help text."""
    flags, cur = {}, None
    for line in text.splitlines():
        m = FLAG_RE.match(line)
        if m:
            cur = m.group(1)
            flags[cur] = [m.group(2) or "", m.group(3).strip()]
        elif cur and line.startswith("    ") and line.strip():
            flags[cur][1] += " " + line.strip()
        elif not line.strip():
            cur = None
    return {k: (v[0], v[1]) for k, v in flags.items() if k != "help"}


def numeric_kind(meta, desc):
    """"int", "real" or None."""
    if meta in ("N", "N[,N...]", "LIST"):
        return "int"
    if meta in ("X", "P", "LAMBDA"):
        return "real"
    d = re.search(r"\(default (-?[0-9.eE+-]+)[;)]", desc)
    if d and re.search(r"in [\[(]|[<>]=? -?\d", desc):
        return "real" if re.search(r"[.eE]", d.group(1)) else "int"
    return None


def range_of(desc):
    """(lo, lo_open, hi) from "in [a, b]", "in (a, b]", ">= a", "> a"; None when absent."""
    m = re.search(r"in ([\[(])(-?[0-9.eE+-]+), (-?[0-9.eE+-]+)\]", desc)
    if m:
        return float(m.group(2)), m.group(1) == "(", float(m.group(3))
    m = re.search(r"(>=?) (-?[0-9.eE+-]+)\)", desc)
    if m:
        return float(m.group(2)), m.group(1) == ">", None
    return None


def fmt(v, kind):
    return str(int(v)) if kind == "int" else repr(v)


# ---- fixtures ----

def write_idx_dirs(tmp):
    rnd = random.Random(8)
    dirs = {k: os.path.join(tmp, k) for k in ("ok", "wrong", "trunc", "dirimg", "fifo", "empty")}
    for d in dirs.values():
        os.mkdir(d)
    for split, n in (("train", 200), ("t10k", 100)):
        img = struct.pack(">IIII", 0x803, n, 28, 28) + bytes(rnd.randrange(256) for _ in range(n * 784))
        lbl = struct.pack(">II", 0x801, n) + bytes(rnd.randrange(10) for _ in range(n))
        for k in ("ok", "wrong", "trunc", "dirimg", "fifo"):
            with open(os.path.join(dirs[k], split + "-labels-idx1-ubyte"), "wb") as f:
                f.write(lbl)
        for k, data in (("ok", img), ("wrong", lbl), ("trunc", img[:1000])):
            with open(os.path.join(dirs[k], split + "-images-idx3-ubyte"), "wb") as f:
                f.write(data)
        os.mkdir(os.path.join(dirs["dirimg"], split + "-images-idx3-ubyte"))
        os.mkfifo(os.path.join(dirs["fifo"], split + "-images-idx3-ubyte"))  # no writer: open must not wait
    os.mkfifo(os.path.join(tmp, "pipe"))
    return dirs


def programs():
    out = []
    for name in sorted(os.listdir(EXAMPLES)):
        p = os.path.join(EXAMPLES, name)
        if os.path.isfile(p) and os.access(p, os.X_OK) and "." not in name:
            out.append(name)
    return out


def cases_for(prog, flags, common, dirs, tmp, ck16):
    """[(args, needles, want_rc)] for one program."""
    usage = 2 if common else None
    cs = [(["--no-such-flag"], ["no-such-flag"], usage),
          (["stray-argument"], ["stray-argument"], usage)]
    bad_int = ["abc", "1e", "0x10", "", "1.5", "99999999999999999999", "--5"]
    bad_real = ["abc", "1e", "0x10", "", "nan", "inf", "1e400", "1,5"]
    k = 0
    for name, (meta, desc) in sorted(flags.items()):
        kind = numeric_kind(meta, desc)
        if not kind:
            continue
        cs.append((["--" + name], ["--" + name if common else name], usage))  # missing value
        bad = bad_int if kind == "int" else bad_real
        for v in ("abc", bad[2 + k % (len(bad) - 2)]):  # two per flag, rotating the rest
            cs.append((["--" + name, v], ["--" + name], usage))
        k += 1
        r = range_of(desc)
        if r:
            lo, lo_open, hi = r
            cs.append((["--" + name, fmt(lo if lo_open else lo - 1, kind)], ["--" + name], usage))
            if hi is not None:
                cs.append((["--" + name, fmt(hi + 1, kind)], ["--" + name], usage))
    for name, (meta, desc) in sorted(flags.items()):
        if "|" in meta and "/" not in meta:  # a choice: relu|sigmoid|tanh (DIR|ring is not)
            cs.append((["--" + name, "bogus-choice"], ["bogus-choice"], usage))
    if prog == "gradcheck":
        cs.append((["--op", "no-such-op"], ["no-such-op"], None))
    for name, vals in (("batch", ["-5", "0"]), ("epochs", ["0", "-1"]), ("lr", ["0", "-1"])):
        if name in flags:
            for v in vals:
                cs.append((["--" + name, v], ["--" + name], usage))
    if "data" in flags:
        cs.append((["--data", "/nonexistent-tg-dir"], ["/nonexistent-tg-dir"], None))
        for key, needle in (("empty", "no such file"), ("wrong", "label file"), ("trunc", "truncated"),
                            ("dirimg", "not a regular file"), ("fifo", "FIFO")):
            cs.append((["--data", dirs[key]], [dirs[key], needle], None))
    base = ["--data", dirs["ok"]] if "data" in flags else []
    fifo = os.path.join(tmp, "pipe")  # a FIFO nobody writes: reading it would block forever
    if "text" in flags:
        empty = os.path.join(tmp, "empty.txt")
        cs.append((["--text", "/nonexistent-tg-file"], ["/nonexistent-tg-file"], None))
        cs.append((["--text", empty], [empty], None))
        cs.append((["--text", fifo], [fifo, "FIFO"], usage))
        base = ["--text", os.path.join(tmp, "small.txt")]
    if "load" in flags:
        junk = os.path.join(tmp, "junk.safetensors")
        ev = ["--eval-only"] if "eval-only" in flags else []
        cs.append((base + ["--load", "/nonexistent-tg-dir/m.safetensors"] + ev,
                   ["/nonexistent-tg-dir/m.safetensors"], None))
        cs.append((base + ["--load", junk] + ev, [junk], None))
        cs.append((base + ["--load", fifo] + ev, [fifo, "FIFO"], usage))
        if prog == "mlp":
            cs.append((base + ["--hidden", "32", "--load", ck16] + ev,
                       ["'fc1.W'", "[784,16]", "[784,32]"], 1))
            cs.append((base + ["--hidden", "16,8", "--load", ck16] + ev,
                       ["'fc2.W'", "[16,10]", "[16,8]"], 1))
        else:
            # another model's checkpoint: the first parameter is missing or misshapen
            cs.append((base + ["--load", ck16] + ev, [ck16, "tensor '"], 1))
    if "save" in flags:
        cs.append((base + ["--save", "/nonexistent-tg-dir/x.safetensors"], ["/nonexistent-tg-dir"], None))
        # the atomic save's rename would replace the FIFO by a regular file
        cs.append((base + ["--save", fifo], [fifo, "FIFO"], usage))
    return cs


def main():
    global n_cases
    if not os.path.isdir(EXAMPLES):
        print("FAIL: no examples directory at %s (set TG_BUILDDIR)" % EXAMPLES)
        return 1
    progs = programs()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = write_idx_dirs(tmp)
        open(os.path.join(tmp, "empty.txt"), "w").close()
        with open(os.path.join(tmp, "small.txt"), "w") as f:
            f.write("the quick brown fox jumps over the lazy dog. " * 40)
        with open(os.path.join(tmp, "junk.safetensors"), "wb") as f:
            f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + bytes(range(64)))
        ck16 = os.path.join(tmp, "mlp16.safetensors")
        if "mlp" in progs:
            rc, out, err = run("mlp", ["--data", dirs["ok"], "--limit", "200", "--epochs", "1", "--hidden",
                                       "16", "--batch", "50", "--save", ck16])
            if rc != 0:
                failures.append("mlp: could not make the 784-16-10 checkpoint: exit %d: %s" % (rc, err))
        jobs = []
        with cf.ThreadPoolExecutor(max_workers=4) as pool:
            for prog in progs:
                rc, out, err = run(prog, ["--help"])
                if rc != 0:
                    failures.append("%s --help: exit %d" % (prog, rc))
                common = "Usage: %s [OPTIONS]" % prog in out  # built on examples/common.c
                flags = parse_help(out)
                cs = cases_for(prog, flags, common, dirs, tmp, ck16)
                print("%-12s %2d flags, %3d bad command lines" % (prog, len(flags), len(cs)))
                for args, needles, want in cs:
                    jobs.append(pool.submit(check, prog, args, needles, want))
            for j in jobs:
                n_cases += 1
                r = j.result()
                if r:
                    print("FAIL:", r)
                    failures.append(r)
    print("%d programs, %d bad command lines, %d failure(s)" % (len(progs), n_cases, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
