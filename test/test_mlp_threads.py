#!/usr/bin/env python3
"""Issue 7's determinism point, as a user runs it: training the MLP (the mlp
example's defaults: 784-500-10 ReLU, batch 200, SGD lr 0.1) for one epoch of
Fashion-MNIST with 1 thread and with 2 threads gives bitwise-identical
weights.

Each run saves its parameters (--save, safetensors). This script reads the
files itself (the format's 8-byte header length, JSON header and data
offsets; the standard library only, no tapegrad code) and compares every
tensor's dtype, shape and bytes; the result lines' test_acc and train_loss
must be equal too. The header's __metadata__ is not compared.

So that the comparison is known to see a difference, a third run with another
seed (--seed 43, 2 threads) must give different weights.

In a sanitizer build (5-20x slower) the runs use the first 5000 training
samples (--limit 5000), 25 steps instead of 300. Exits 77 (skipped) when
Fashion-MNIST is not installed ($TG_DATA or the Debian path). Exit 0 pass,
1 fail.
"""
import json
import os
import struct
import sys
import tempfile

from testlib import BUILD, DATA, have_data, result_line, run_example, sanitized


def tensors(path):
    """{name: (dtype, shape, bytes)} of a safetensors file; raises RuntimeError if malformed."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise RuntimeError("%s: shorter than the header length" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    try:
        head = json.loads(blob[8:8 + n].decode("utf-8"))
    except ValueError as e:
        raise RuntimeError("%s: bad JSON header: %s" % (path, e))
    data = blob[8 + n:]
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        lo, hi = t["data_offsets"]
        if not 0 <= lo <= hi <= len(data):
            raise RuntimeError("%s: tensor %s has offsets %d..%d beyond %d bytes" % (path, name, lo, hi, len(data)))
        out[name] = (t["dtype"], tuple(t["shape"]), data[lo:hi])
    return out


def train(threads, seed, path, extra):
    """Runs mlp for one epoch; returns (result fields, tensors) or raises RuntimeError."""
    rc, out, err = run_example("mlp", "--data", DATA, "--epochs", 1, "--threads", threads, "--seed", seed,
                               "--save", path, *extra, timeout=1800, echo=True)
    fields = result_line(out)
    if rc != 0 or fields is None:
        raise RuntimeError("mlp --threads %d: exit %d, %s" % (threads, rc, err.strip()[-1000:]))
    print("  " + out.strip().splitlines()[-1])
    return fields, tensors(path)


def main():
    if not have_data():
        print("SKIP: Fashion-MNIST not found in %s (install dataset-fashion-mnist or set TG_DATA)" % DATA)
        return 77
    extra = ["--limit", "5000"] if sanitized(BUILD) else []
    fails = 0
    with tempfile.TemporaryDirectory() as d:
        try:
            f1, w1 = train(1, 42, os.path.join(d, "t1.safetensors"), extra)
            f2, w2 = train(2, 42, os.path.join(d, "t2.safetensors"), extra)
            f3, w3 = train(2, 43, os.path.join(d, "s43.safetensors"), extra)
        except RuntimeError as e:
            print("FAIL: %s" % e)
            return 1
    nbytes = sum(len(t[2]) for t in w1.values())
    print("%d tensors (%s), %d bytes" % (len(w1), ", ".join("%s %s%s" % (k, v[0], list(v[1])) for k, v in
                                                         sorted(w1.items())), nbytes))
    if len(w1) < 4 or nbytes < 4 * (784 * 500 + 500 + 500 * 10 + 10):
        print("FAIL: expected the 784-500-10 MLP's four tensors, got %d tensors, %d bytes" % (len(w1), nbytes))
        fails += 1
    if w1 != w2:
        diff = sorted(k for k in set(w1) | set(w2) if w1.get(k) != w2.get(k))
        print("FAIL: weights after one epoch differ between 1 and 2 threads: %s" % ", ".join(diff))
        fails += 1
    else:
        print("ok: weights bitwise identical with 1 and 2 threads")
    for key in ("test_acc", "train_loss"):
        if f1.get(key) != f2.get(key):
            print("FAIL: %s differs: %s (1 thread) vs %s (2 threads)" % (key, f1.get(key), f2.get(key)))
            fails += 1
    if w3 == w2:
        print("FAIL: seed 43 gave the same weights as seed 42: the comparison cannot see a difference")
        fails += 1
    else:
        print("ok: another seed gives different weights (the comparison sees differences)")
    print("FAIL" if fails else "PASS")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
