#!/usr/bin/env python3
"""The accuracy targets of the issues, on the full Fashion-MNIST set, run as a
user runs them (the thresholds are the issues' numbers, not ours):

- mlp with its defaults (784-500-10, ReLU, CE, batch 200, SGD lr 0.1, 20
  epochs): test_acc >= 0.865 (PyTorch reaches 0.869 with the same recipe);
- mlp --hidden 300 --act sigmoid --loss mse (the second lecture's network):
  test_acc > 0.80;
- lenet5 with its defaults (10 epochs): test_acc >= 0.88.

These take a few minutes in a release build. In a sanitizer build (ASan and
UBSan make them 5-20x slower) each program instead runs a short version
(--limit 5000 --epochs 2) that must clearly beat chance (0.10): 0.60 for the
ReLU MLP and lenet5 (they reach about 0.75), 0.25 for the sigmoid/MSE MLP,
which learns slowly at first (about 0.38). The sanitizers still see every
code path, and the full-length thresholds are checked by `make test`.

Exits 77 (skipped) when Fashion-MNIST is not installed ($TG_DATA or the
Debian path). Only the standard library is used. Exit 0 pass, 1 fail.
"""
import sys

from testlib import BUILD, DATA, have_data, result_line, run_example, sanitized

def run(prog, args):
    rc, out, err = run_example(prog, "--data", DATA, *args, timeout=3600, echo=True)
    for line in out.strip().splitlines()[-4:]:
        print("  " + line)
    if rc != 0:
        print(err.strip()[-2000:])
        return None, "exit %d" % rc
    fields = result_line(out)
    if fields is None:
        return None, "no result line"
    try:
        return float(fields["test_acc"]), None
    except (KeyError, ValueError):
        return None, "no test_acc in %r" % out.strip().splitlines()[-1]


def main():
    if not have_data():
        print("SKIP: Fashion-MNIST not found in %s (install dataset-fashion-mnist or set TG_DATA)" % DATA)
        return 77
    short = sanitized(BUILD)
    extra = ["--limit", "5000", "--epochs", "2"] if short else []
    if short:
        print("sanitizer build: short runs (--limit 5000 --epochs 2), thresholds well above chance")
    # (program, flags, full-run test, its text, short-run threshold)
    cases = [
        ("mlp", [], lambda a: a >= 0.865, ">= 0.865", 0.60),
        ("mlp", ["--hidden", "300", "--act", "sigmoid", "--loss", "mse"], lambda a: a > 0.80, "> 0.80", 0.25),
        ("lenet5", [], lambda a: a >= 0.88, ">= 0.88", 0.60),
    ]
    failures = 0
    for prog, args, ok, want, short_min in cases:
        if short:
            ok, want = (lambda a, m=short_min: a > m), "> %.2f" % short_min
        acc, err = run(prog, args + extra)
        if err:
            print("FAIL: %s %s: %s" % (prog, " ".join(args), err))
            failures += 1
        elif not ok(acc):
            print("FAIL: %s %s: test_acc %.4f, want %s" % (prog, " ".join(args), acc, want))
            failures += 1
        else:
            print("ok: %s %s: test_acc %.4f %s" % (prog, " ".join(args), acc, want))
    print("%d passed, %d failed" % (len(cases) - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
