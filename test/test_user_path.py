#!/usr/bin/env python3
"""The user's path: a custom op, its gradient check, and graph pictures.

- custom_op: the gradient check passes on every case, and the log-cosh line
  fit lands near the true line t = 2x - 1 while the squared-error fit is
  dragged up by the outliers.
- custom_op --wrong-backward: exit 1; the message names the op, the input
  and the worst element, and the result line says gradcheck=failed.
- docs/adding-an-op.md: every C block of "The user's path" section appears
  verbatim in examples/custom_op.c, so the doc cannot drift from the code.
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


def main():
    return T.run_all((test_custom_op, test_wrong_backward, test_doc_matches_example, test_mlp_dot))


if __name__ == "__main__":
    sys.exit(main())
