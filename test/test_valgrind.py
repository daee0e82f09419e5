#!/usr/bin/env python3
"""Valgrind memcheck of the mlp example: 100 training steps and a save, then
a load (--eval-only), each run under

    valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
             --error-exitcode=1

must exit 0 with 0 bytes definitely and 0 bytes indirectly lost and no
memory errors.

Data: the first 2000 training and 500 test images of Fashion-MNIST written
raw into a temp dir (random images when the data set is absent), so that
valgrind does not spend its time inflating 60000 images. 784-16-10, batch
20, one epoch of --limit 2000: 100 steps.

The binary is $TG_VALGRIND_MLP: with -Dcpu=native test/meson.build builds a
copy of mlp for x86-64-v3 (valgrind cannot decode AVX-512). Exit 77 (skip)
when valgrind is not installed, when the build had no valgrind at configure
time, or under the sanitizer build (TG_SANITIZE=1: ASan and valgrind do not
mix). Exit 0 pass, 1 fail. Standard library only.
"""
import gzip
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

DATA = os.environ.get("TG_DATA", "/usr/share/datasets/fashion-mnist")
VG = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
      "--error-exitcode=1"]


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def read_idx(path, header, n, item):
    """The header and the first n items of a raw or gzipped IDX file."""
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            op = gzip.open if p.endswith(".gz") else open
            with op(p, "rb") as f:
                return f.read(header + n * item)[header:]
    return None


def write_data(tmp):
    rnd = random.Random(8)
    for split, n in (("train", 2000), ("t10k", 500)):
        base = os.path.join(DATA, split)
        img = read_idx(base + "-images-idx3-ubyte", 16, n, 784)
        lbl = read_idx(base + "-labels-idx1-ubyte", 8, n, 1)
        if img is None or lbl is None or len(img) != n * 784 or len(lbl) != n:
            img = bytes(rnd.randrange(256) for _ in range(n * 784))
            lbl = bytes(rnd.randrange(10) for _ in range(n))
            src = "random"
        else:
            src = DATA
        with open(os.path.join(tmp, split + "-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28) + img)
        with open(os.path.join(tmp, split + "-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + lbl)
    return src


def lost(log, kind):
    """Bytes of `kind` ("definitely", "indirectly") lost in the leak summary;
    0 when valgrind says no leaks are possible."""
    m = re.search(r"%s lost: ([\d,]+) bytes" % kind, log)
    if m:
        return int(m.group(1).replace(",", ""))
    if "All heap blocks were freed -- no leaks are possible" in log:
        return 0
    return None


def memcheck(exe, args, what):
    cmd = VG + [exe] + args
    env = dict(os.environ, TG_PROGRESS="0")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    log = p.stderr
    errors = re.search(r"ERROR SUMMARY: (\d+) errors", log)
    d, i = lost(log, "definitely"), lost(log, "indirectly")
    ok = p.returncode == 0 and errors and errors.group(1) == "0" and d == 0 and i == 0
    print("%s: exit %d, definitely lost %s, indirectly lost %s, %s" %
          (what, p.returncode, d, i, errors.group(0) if errors else "no error summary"))
    if not ok:
        print("FAIL: %s\n$ %s\n--- stdout\n%s--- stderr (last 60 lines)\n%s" %
              (what, " ".join(cmd), p.stdout, "\n".join(log.splitlines()[-60:])))
    return ok


def main():
    if os.environ.get("TG_SANITIZE") == "1":
        skip("valgrind test under the sanitizer build (TG_SANITIZE=1): ASan and valgrind do not mix")
    if not shutil.which("valgrind"):
        skip("valgrind is not installed (apt-get install valgrind; `make test` does)")
    exe = os.environ.get("TG_VALGRIND_MLP", "")
    if not exe or not os.path.exists(exe):
        skip("no valgrind build of mlp (valgrind was not found when the build was configured: "
             "run `meson setup --reconfigure` on the build directory)")
    with tempfile.TemporaryDirectory() as tmp:
        src = write_data(tmp)
        ck = os.path.join(tmp, "m.safetensors")
        common = ["--data", tmp, "--hidden", "16", "--threads", "2"]
        print("data: 2000 + 500 images from %s; binary %s" % (src, exe))
        ok = memcheck(exe, common + ["--limit", "2000", "--batch", "20", "--epochs", "1",
                                     "--save", ck], "100 training steps + save")
        ok = memcheck(exe, common + ["--load", ck, "--eval-only"], "load + evaluate") and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
