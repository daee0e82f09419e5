#!/usr/bin/env python3
"""Runs the example programs as a user would and checks what they print.

- perceptron: and_acc = or_acc = xor_acc = 1.
- linear_unit: w and b within 1% of the least-squares line, computed here in
  closed form (w = cov(x, t) / var(x), b = mean(t) - w mean(x)).
- mlp: bad command lines exit non-zero (2 for usage errors) with a message on
  stderr and before any training; a short run (--limit 2000 --epochs 2
  --hidden 32) prints a well-formed result line with accuracy > 0.5; --save,
  --load --eval-only and --plot work together.

Only the standard library is used. Executables are found under
$TG_BUILDDIR/examples (set by meson). Exit 0 pass, 1 fail, 77 when the mlp
short run was skipped (no Fashion-MNIST): a partial run is not a pass.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

from testlib import DATA, EXAMPLES, Tally, needs_data, result_line
from testlib import run_example as run

T = Tally()
fail = T.fail


def test_perceptron():
    r, _ = T.result("perceptron")
    for k in ("and_acc", "or_acc", "xor_acc") if r else ():
        if k not in r or float(r[k]) != 1.0:
            fail("perceptron: %s = %s, want 1.00" % (k, r.get(k)))


def test_linear_unit():
    x = [5, 3, 8, 1.4, 10.1]
    t = [5500, 2300, 7600, 1800, 11400]
    n = len(x)
    mx, mt = sum(x) / n, sum(t) / n
    w = sum((a - mx) * (b - mt) for a, b in zip(x, t)) / sum((a - mx) ** 2 for a in x)
    b = mt - w * mx
    mse = sum((w * a + b - c) ** 2 for a, c in zip(x, t)) / n
    r, out = T.result("linear_unit")
    if r is None:
        return
    for key, want in (("w", w), ("b", b), ("mse", mse)):
        got = float(r.get(key, "nan"))
        if not abs(got - want) <= 0.01 * abs(want):
            fail("linear_unit: %s = %g, least squares gives %g (more than 1%% off)" % (key, got, want))
    for years in ("3.4", "15", "1.5", "6.3"):
        if "Work %s years" % years not in out:
            fail("linear_unit: no prediction printed for %s years" % years)
    print("linear_unit: %s (closed form w=%.6f b=%.6f mse=%.6f)" % (out.strip().splitlines()[-1], w, b, mse))


def test_mlp_bad_flags():
    cases = [
        (["--bogus"], 2, "--bogus"),
        (["--lr", "abc"], 2, "abc"),
        (["--lr", "1e"], 2, "1e"),
        (["--batch", "-5"], 2, "-5"),
        (["--epochs", "0"], 2, "epochs"),
        (["--lr", "0"], 2, "lr"),
        (["--hidden", "300,x"], 2, "hidden"),
        (["--act", "softsign"], 2, "softsign"),
        (["--epochs"], 2, "epochs"),
        (["--eval-only"], 2, "load"),
        (["--data", "/nonexistent"], 2, "/nonexistent"),
        (["--save", "/nonexistent-dir/x"], 2, "/nonexistent-dir/x"),
        (["--load", "/nonexistent-dir/model.safetensors"], 2, "/nonexistent-dir/model.safetensors"),
    ]
    for args, want_rc, needle in cases:
        rc, out, err = run("mlp", *args, timeout=60)
        what = "mlp %s" % " ".join(args)
        if rc == 0:
            fail("%s: exited 0" % what)
        elif rc != want_rc:
            fail("%s: exited %d, want %d (stderr: %s)" % (what, rc, want_rc, err.strip()))
        if needle not in err:
            fail("%s: stderr does not mention %r: %r" % (what, needle, err))
        if "epoch" in out and "train_loss" in out:
            fail("%s: training started before the error was found" % what)
    rc, out, err = run("mlp", "--help")
    if rc != 0 or "Usage: mlp" not in out or "--early-stop" not in out:
        fail("mlp --help: exit %d, output %r" % (rc, out[:200]))
    print("mlp: %d bad command lines rejected" % len(cases))


@needs_data(T, "mlp short run")
def test_mlp_short_run(tmp):
    ck = os.path.join(tmp, "m.safetensors")
    svg = os.path.join(tmp, "curves.svg")
    rc, out, err = run("mlp", "--data", DATA, "--limit", "2000", "--epochs", "2", "--hidden", "32",
                       "--save", ck, "--plot", svg)
    if rc != 0:
        return fail("mlp short run exited %d: %s" % (rc, err.strip()))
    last = out.strip().splitlines()[-1]
    pat = (r"result: test_acc=(0\.\d{4}|1\.0000) train_loss=\d+\.\d{4} epochs=2 "
           r"seconds=\d+\.\d{2} samples_per_s=\d+$")
    if not re.match(pat, last):
        return fail("mlp short run: result line %r does not match %r" % (last, pat))
    acc = float(result_line(out)["test_acc"])
    if not acc > 0.5:
        fail("mlp short run: test_acc %.4f <= 0.5" % acc)
    print("mlp short run:", last)
    if os.path.exists(ck + ".probe"):
        fail("mlp: left the probe file %s.probe behind" % ck)
    try:
        root = ET.parse(svg).getroot()
        if not root.tag.endswith("svg") or "path" not in ET.tostring(root, encoding="unicode"):
            fail("mlp --plot: %s has no curves" % svg)
    except Exception as e:  # noqa: BLE001
        fail("mlp --plot: %s is not valid SVG: %s" % (svg, e))
    rc, out, err = run("mlp", "--data", DATA, "--hidden", "32", "--load", ck, "--eval-only")
    if rc != 0:
        return fail("mlp --load --eval-only exited %d: %s" % (rc, err.strip()))
    again = float((result_line(out) or {}).get("test_acc", "nan"))
    if again != acc:
        fail("mlp --eval-only after --save: test_acc %.4f, training run said %.4f" % (again, acc))
    rc, out, err = run("mlp", "--data", DATA, "--hidden", "64", "--load", ck, "--eval-only")
    if rc != 1 or not err.strip():
        fail("mlp --load with the wrong architecture: exit %d, stderr %r (want 1 and a message)"
             % (rc, err))


def main():
    if not os.path.isdir(EXAMPLES):
        print("FAIL: no examples directory at %s (set TG_BUILDDIR)" % EXAMPLES)
        return 1
    return T.run_all((test_perceptron, test_linear_unit, test_mlp_bad_flags, test_mlp_short_run))


if __name__ == "__main__":
    sys.exit(main())
