#!/usr/bin/env python3
"""The user's path: a custom op, its gradient check, and graph pictures.

- custom_op: the gradient check passes on every case, and the log-cosh line
  fit lands near the true line t = 2x - 1 while the squared-error fit is
  dragged up by the outliers.
- custom_op --wrong-backward: exit 1; the message names the op, the input
  and the worst element, and the result line says gradcheck=failed.
- docs/adding-an-op.md: every C block of "The user's path" section appears
  verbatim in examples/custom_op.c, so the doc cannot drift from the code.
- docs/tutorial/02's pair: mlp --optim adam ... --save m, then
  mlp --load m --eval-only (default --optim sgd) exits 0 and reports the
  test accuracy the training run ended with: evaluation needs only the
  parameters, not the optimizer the file was trained with.
- tabular (users' own data): trains on a CSV written here (three Gaussian
  blobs, a header line, the label in the middle column) well above chance
  (a control with shuffled labels stays near chance), saves, and --list
  prints every tensor with its dtype and shape and the optimizer with its
  steps; a CSV with a word in a number's place exits 1 naming line and
  column.
- mlp --dot FILE on a tiny run writes a DOT digraph of the first step with
  the parameters by name and gradient norms on the edges; rendered with
  Graphviz's dot when it is installed.

Standard library only. Executables under $TG_BUILDDIR/examples. Exit 0 pass,
1 fail.
"""
import os
import re
import shutil
import subprocess
import sys

SRC = os.environ.get("TG_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import DATA, Tally, needs_data, result_line as result
from testlib import run_example

T = Tally()
fail = T.fail


def run(prog, *args):
    return run_example(prog, *args, timeout=300)


def test_custom_op():
    rc, out, err = run("custom_op")
    r = result(out)
    if rc != 0 or r is None:
        return fail("custom_op exited %d (%s): %s" % (rc, err.strip(), out[-300:]))
    if r.get("gradcheck") != "ok" or out.count(": ") < 4 or "FAILED" in out:
        fail("custom_op: gradcheck lines: %s" % out)
    w, b, mw, mb = (float(r[k]) for k in ("w", "b", "mse_w", "mse_b"))
    if abs(w - 2) > 0.1 or abs(b + 1) > 0.25:
        fail("custom_op: log-cosh fit w=%g b=%g, want near 2, -1" % (w, b))
    if mb + 1 < 1.0:
        fail("custom_op: squared-error fit b=%g should be dragged up by the outliers" % mb)
    print("custom_op:", out.strip().splitlines()[-1])


def test_wrong_backward():
    rc, out, err = run("custom_op", "--wrong-backward")
    r = result(out) or {}
    if rc != 1:
        fail("custom_op --wrong-backward exited %d, want 1" % rc)
    if r.get("gradcheck") != "failed" or r.get("op") != "log_cosh" or "worst_index" not in r:
        fail("custom_op --wrong-backward: result line %r" % out.strip().splitlines()[-1:])
    m = re.search(r"log_cosh .*input (\d+) element (\d+): analytic (\S+), numeric (\S+)", err)
    if not m:
        fail("custom_op --wrong-backward: stderr should name the op and the element: %r" % err)
    elif m.group(2) != r.get("worst_index"):
        fail("custom_op --wrong-backward: stderr element %s, result worst_index %s" %
             (m.group(2), r.get("worst_index")))
    if "training" in out or "fit:" in out:
        fail("custom_op --wrong-backward trained anyway")
    print("custom_op --wrong-backward:", err.strip())


def test_doc_matches_example():
    doc = open(os.path.join(SRC, "docs", "adding-an-op.md"), encoding="utf-8").read()
    code = open(os.path.join(SRC, "examples", "custom_op.c"), encoding="utf-8").read()
    start = doc.find("## The user's path")
    if start < 0:
        return fail("docs/adding-an-op.md has no \"## The user's path\" section")
    end = doc.find("\n## ", start + 1)
    section = doc[start:end if end > 0 else len(doc)]
    blocks = re.findall(r"```c\n(.*?)```", section, re.S)
    if len(blocks) < 2:
        fail("adding-an-op.md, user's path: expected the op and the check as C blocks, found %d" % len(blocks))
    # compare line by line, ignoring indentation: a block may be dedented
    code_lines = [l.strip() for l in code.splitlines()]
    text = "\n" + "\n".join(code_lines) + "\n"
    ok = True
    for blk in blocks:
        lines = [l.strip() for l in blk.strip("\n").splitlines()]
        if "\n" + "\n".join(lines) + "\n" not in text:
            first = next((l for l in lines if l not in code_lines), lines[0] if lines else "")
            fail("adding-an-op.md, user's path: a C block is not in examples/custom_op.c "
                 "(first line not found: %r)" % first)
            ok = False
    if ok:
        print("adding-an-op.md: %d C blocks of the user's path match examples/custom_op.c" % len(blocks))


@needs_data(T, "mlp --dot")
def test_mlp_dot(tmp):
    path = os.path.join(tmp, "mlp.dot")
    rc, out, err = run("mlp", "--data", DATA, "--hidden", "16", "--limit", "200", "--epochs", "1",
                       "--threads", "1", "--dot", path)
    if rc != 0:
        return fail("mlp --dot exited %d: %s" % (rc, err.strip()))
    if not os.path.exists(path):
        return fail("mlp --dot wrote nothing")
    dot = open(path, encoding="utf-8").read()
    if not dot.startswith("digraph tape {") or not dot.rstrip().endswith("}"):
        fail("mlp --dot: not a digraph: %r" % dot[:200])
    for name in ("fc1.W\\n[784,16] f32", "fc1.b\\n[16] f32", "fc2.W\\n[16,10] f32", "fc2.b\\n[10] f32",
                 "input\\n[200,784] f32", "cross_entropy\\n[] f32", "relu\\n[200,16] f32"):
        if '"%s' % name not in dot:
            fail("mlp --dot: no node labelled %r" % name)
    edges = re.findall(r"^\s*[nl]\d+ -> n\d+(.*);$", dot, re.M)
    norms = [float(m) for m in re.findall(r'label=" ([0-9.e+-]+)"', "".join(edges))]
    # addmm 3 (bias, input, W), relu 1, addmm 3, cross_entropy 1; the input has no gradient
    if len(edges) != 8 or len(norms) != 7 or not all(0 < v < 1e3 for v in norms):
        fail("mlp --dot: want 8 edges, 7 with positive gradient norms; got %d, %s" % (len(edges), norms))
    if shutil.which("dot"):
        svg = os.path.join(tmp, "mlp.svg")
        p = subprocess.run(["dot", "-Tsvg", path, "-o", svg], capture_output=True, text=True)
        if p.returncode != 0 or "<svg" not in open(svg, encoding="utf-8").read():
            fail("dot -Tsvg rejected the file: %s" % p.stderr)
        else:
            print("mlp --dot: rendered with Graphviz")
    bad = run("mlp", "--data", DATA, "--dot", os.path.join(tmp, "no", "such", "dir", "x.dot"))
    if bad[0] != 2 or "--dot" not in bad[2]:
        fail("mlp --dot into a missing directory: exit %d, %r; want 2 naming --dot" % (bad[0], bad[2]))
    print("mlp --dot: %d edges, gradient norms %s" % (len(edges), ", ".join("%.3g" % v for v in norms)))


@needs_data(T, "mlp --load --eval-only")
def test_eval_only_other_optim(tmp):
    ck = os.path.join(tmp, "m.safetensors")
    small = ("--data", DATA, "--hidden", "16", "--limit", "3000", "--threads", "1")
    rc, out, err = run("mlp", *small, "--optim", "adam", "--epochs", "1", "--save", ck)
    trained = result(out) or {}
    if rc != 0 or "test_acc" not in trained:
        return fail("mlp --optim adam --save exited %d: %s" % (rc, err.strip()))
    rc, out, err = run("mlp", "--data", DATA, "--hidden", "16", "--threads", "1", "--load", ck, "--eval-only")
    ev = result(out) or {}
    if rc != 0 or "test_acc" not in ev:
        return fail("mlp --load (an adam checkpoint) --eval-only exited %d: %s" % (rc, err.strip()))
    if ev["test_acc"] != trained["test_acc"] or float(ev["test_acc"]) <= 0.3:
        fail("mlp --eval-only: test_acc %s, the training run ended with %s (want equal, above chance)" %
             (ev["test_acc"], trained["test_acc"]))
    # control: training on from that file with another optimizer still refuses it
    rc, out, err = run("mlp", *small, "--epochs", "1", "--load", ck)
    if rc != 1 or "optim" not in err:
        fail("mlp --load (adam checkpoint) training with sgd: exit %d, want 1 naming the optimizer: %r" %
             (rc, err.strip()))
    print("mlp --load m --eval-only after --optim adam: test_acc %s, as trained" % ev["test_acc"])


def test_tabular():
    import random
    import tempfile
    tmp = tempfile.mkdtemp(prefix="tg-tabular-")
    try:
        rnd = random.Random(5)
        rows = []
        for i in range(300):
            c = i % 3
            rows.append((c + rnd.gauss(0, 0.3), c, 2 * c + rnd.gauss(0, 0.4), rnd.gauss(0, 1)))
        good, ctl, bad = (os.path.join(tmp, n) for n in ("blobs.csv", "control.csv", "bad.csv"))
        with open(good, "w") as f:
            f.write("a, class, b, noise\n" + "".join("%.4f,%d,%.4f,%.4f\n" % r for r in rows))
        labels = [r[1] for r in rows]
        rnd.shuffle(labels)
        with open(ctl, "w") as f:
            f.write("".join("%.4f,%d,%.4f,%.4f\n" % (r[0], y, r[2], r[3]) for r, y in zip(rows, labels)))
        with open(bad, "w") as f:
            f.write("1,0,2,3\n4,1,oops,6\n")
        ck = os.path.join(tmp, "t.safetensors")
        rc, out, err = run("tabular", "--csv", good, "--label", "1", "--epochs", "20", "--save", ck)
        r = result(out) or {}
        if rc != 0 or "test_acc" not in r:
            return fail("tabular --csv exited %d: %s" % (rc, err.strip()))
        if (r.get("rows"), r.get("features"), r.get("classes")) != ("300", "3", "3"):
            fail("tabular: rows/features/classes %s, want 300/3/3" % r)
        if float(r["test_acc"]) < 0.9:
            fail("tabular: test_acc %s on separable blobs, want >= 0.9" % r["test_acc"])
        rc, out2, err = run("tabular", "--csv", ctl, "--label", "1", "--epochs", "20")
        c = result(out2) or {}
        if rc != 0 or float(c.get("test_acc", 1)) > 0.6:
            fail("tabular control (shuffled labels): exit %d, test_acc %s, want near 1/3" % (rc, c.get("test_acc")))
        rc, out3, err = run("tabular", "--list", ck)
        lst = result(out3) or {}
        # 4 parameters and Adam's 2 slots each; 20 epochs of ceil(240/64) = 4 steps
        if rc != 0 or lst != {"tensors": "12", "optim": "adam", "steps": "80"}:
            fail("tabular --list: exit %d, result %s, want 12 tensors, adam, 80 steps" % (rc, lst))
        for want in ("fc1.W", "f32 [3,32]"), ("optim.fc2.b.exp_avg_sq", "f32 [3]"):
            if not re.search(r"^%s\s+%s$" % (re.escape(want[0]), re.escape(want[1])), out3, re.M):
                fail("tabular --list: no line %r %r in:\n%s" % (want[0], want[1], out3))
        rc, _, err = run("tabular", "--csv", bad, "--label", "1")
        if rc != 1 or "bad.csv:2: column 3" not in err or "'oops'" not in err:
            fail("tabular on a bad CSV: exit %d, %r; want 1 naming line 2, column 3" % (rc, err.strip()))
        print("tabular: test_acc %s (control %s), --list %s" % (r["test_acc"], c.get("test_acc"), lst))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    return T.run_all((test_tabular, test_custom_op, test_wrong_backward, test_doc_matches_example,
                      test_eval_only_other_optim, test_mlp_dot))


if __name__ == "__main__":
    sys.exit(main())
