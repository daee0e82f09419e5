#!/usr/bin/env python3
"""The documented commands, exactly as written.

- Every ```sh block of README.md, docs/tutorial/*.md and docs/adding-an-op.md
  preceded by an HTML comment "<!-- runnable ... -->" is run verbatim by
  bash -e, the blocks of one page in order in one shell (so an export
  carries over), in a scratch directory that looks like the top of the
  source tree (links to its files, build/ a link to the build under test),
  with HOME a fresh temp dir. README's install block therefore installs into a fresh prefix,
  $HOME/.local, and its link block compiles the README's small example
  (saved as my_net.c, as the README says) against that install. The build's
  prefix and libdir are restored afterwards (the test runs alone:
  is_parallel false).
- A plain ``` block preceded by "<!-- output -->" quotes what the last
  runnable block above it prints. Each quoted line must match a line of
  that block's output: "result:" lines key by key, other lines with their
  numbers masked; the numbers must agree within the runnable marker's
  tolerance ("within N%" relative, "within ±X" absolute; exact when none);
  "..." or "…" matches anything.
- docs/graphs.md: every --dot comes with its file name, and the programs it
  says take --dot FILE are exactly those whose --help lists --dot.
- Every page that quotes a result figure links to README's section on
  figures and the instruction set.

Skipped (77) under the sanitizers: an outside program cannot link a
sanitized library as written. Standard library only. Exit 0 pass, 1 fail.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from testlib import BUILD, EXAMPLES, Tally, run_example, sanitized

SRC = os.environ.get("TG_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PAGES = ["README.md"] + sorted(os.path.join("docs", "tutorial", f)
                               for f in os.listdir(os.path.join(SRC, "docs", "tutorial")) if f.endswith(".md")) + \
    [os.path.join("docs", "adding-an-op.md")]
ISA_ANCHOR = "figures-and-the-instruction-set"
T = Tally()
fail = T.fail
NUM = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def read(rel):
    return open(os.path.join(SRC, rel), encoding="utf-8").read()


def blocks(text):
    """[(kind, tolerance, body)]: kind 'run' or 'output', in page order."""
    out = []
    for m in re.finditer(r"<!--\s*(runnable[^>]*?|output)\s*-->\n```([a-z]*)\n(.*?)```", text, re.S):
        marker, lang, body = m.groups()
        if marker == "output":
            out.append(("output", None, body))
            continue
        if lang != "sh":
            fail("a runnable marker before a ```%s block, want ```sh: %r" % (lang, body[:80]))
            continue
        tol = ("abs", 0.0)
        t = re.search(r"within\s+±\s*([0-9.]+)", marker)
        r = re.search(r"within\s+([0-9.]+)\s*%", marker)
        if t:
            tol = ("abs", float(t.group(1)))
        elif r:
            tol = ("rel", float(r.group(1)) / 100)
        out.append(("run", tol, body))
    return out


def close(q, o, tol):
    q, o = float(q), float(o)
    kind, v = tol
    return abs(q - o) <= (v if kind == "abs" else v * abs(q)) + 1e-12


def result_fields(line):
    return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)


def compare(page, quoted, output, tol):
    """Each quoted line against the output's lines; returns the count compared."""
    lines = [l.strip() for l in output.splitlines() if l.strip()]
    used = set()
    n = 0
    for q in (l.strip() for l in quoted.splitlines()):
        if not q:
            continue
        if q.startswith("result:"):
            qf = result_fields(q)
            cands = [i for i, l in enumerate(lines) if l.startswith("result:") and i not in used and
                     set(result_fields(l)) == set(qf)]
            if not cands:
                fail("%s: quoted %r, but the commands printed no result line with those keys:\n%s" %
                     (page, q, "\n".join(l for l in lines if l.startswith("result:"))))
                continue
            i = cands[0]
            used.add(i)
            of = result_fields(lines[i])
            for k, qv in qf.items():
                if qv in ("...", "…"):
                    continue
                if NUM.fullmatch(qv) and NUM.fullmatch(of[k]):
                    ok = close(qv, of[k], tol)
                else:
                    ok = qv == of[k]
                n += 1
                if not ok:
                    fail("%s: %s=%s quoted, %s printed (tolerance %s %g)" % (page, k, qv, of[k], *tol))
            continue
        skel = NUM.sub("#", q)
        cands = [i for i, l in enumerate(lines) if i not in used and NUM.sub("#", l) == skel]
        if not cands:
            fail("%s: quoted line %r not printed by the commands" % (page, q))
            continue
        used.add(cands[0])
        for qv, ov in zip(NUM.findall(q), NUM.findall(lines[cands[0]])):
            n += 1
            if not close(qv, ov, tol):
                fail("%s: %r quoted, %r printed (tolerance %s %g)" % (page, q, lines[cands[0]], *tol))
    return n


def run_page(page, bl, work, env):
    """Runs the page's runnable blocks in one bash; returns (#blocks, #figures)."""
    runs = [b for b in bl if b[0] == "run"]
    if not runs:
        return 0, 0
    script = ""
    for i, (_, _, body) in enumerate(runs):
        script += "echo '@@block %d@@'\n%s\n" % (i, body)
    p = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                       timeout=900)
    parts = re.split(r"^@@block (\d+)@@$", p.stdout, flags=re.M)
    outs = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    if p.returncode != 0:
        fail("%s: the runnable blocks exited %d; stderr:\n%s\nstdout tail:\n%s" %
             (page, p.returncode, p.stderr[-2000:], p.stdout[-1000:]))
        return len(runs), 0
    n, cur, tol = 0, -1, None
    for kind, t, body in bl:
        if kind == "run":
            cur, tol = cur + 1, t
        elif cur < 0:
            fail("%s: an <!-- output --> block before any runnable block" % page)
        else:
            n += compare(page, body, outs.get(cur, ""), tol)
    return len(runs), n


def build_option(name):
    p = subprocess.run(["meson", "introspect", "--buildoptions", BUILD], capture_output=True, text=True)
    return next(o["value"] for o in json.loads(p.stdout) if o["name"] == name)


def test_runnable():
    pages = [(p, blocks(read(p))) for p in PAGES]
    if not any(k == "run" for _, bl in pages for k, _, _ in bl):
        return fail("no <!-- runnable --> block in %s" % ", ".join(PAGES))
    old = {k: build_option(k) for k in ("prefix", "libdir")}
    tmp = tempfile.mkdtemp(prefix="tg-docs-")
    try:
        home, work = os.path.join(tmp, "home"), os.path.join(tmp, "work")
        os.makedirs(home)
        os.makedirs(work)
        # work looks like the source tree (its files are links), so commands written to be
        # run from the top of the tree run as written; what they write stays in work
        for e in os.listdir(SRC):
            if e != ".git" and not e.startswith("build"):
                os.symlink(os.path.abspath(os.path.join(SRC, e)), os.path.join(work, e))
        os.symlink(os.path.abspath(BUILD), os.path.join(work, "build"))
        # README: "save the small example above as my_net.c"
        readme = read("README.md")
        sec = readme[readme.index("## A small example"):]
        open(os.path.join(work, "my_net.c"), "w").write(re.search(r"```c\n(.*?)```", sec, re.S).group(1))
        env = {k: v for k, v in os.environ.items() if k not in ("PKG_CONFIG_PATH", "LD_LIBRARY_PATH")}
        env.update(HOME=home, TG_PROGRESS="0")
        total_b = total_n = 0
        for page, bl in pages:
            nb, nf = run_page(page, bl, work, env)
            if nb:
                print("%s: %d runnable blocks ran, %d quoted figures and lines agree" % (page, nb, nf))
            total_b, total_n = total_b + nb, total_n + nf
        # the install landed in the fresh prefix, not in the build's old one
        for f in ("bin/tapegrad-mlp", "lib/pkgconfig/tapegrad.pc", "include/tapegrad.h", "lib/libtapegrad.so.0"):
            if not os.path.exists(os.path.join(home, ".local", f)):
                fail("README's install block: no $HOME/.local/%s" % f)
        if total_n < 10:
            fail("only %d quoted figures compared; the pages quote more" % total_n)
        print("runnable: %d blocks, %d figures compared" % (total_b, total_n))
    finally:
        subprocess.run(["meson", "configure", BUILD, "--prefix", old["prefix"], "--libdir", old["libdir"]],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def test_graphs_dot():
    text = read(os.path.join("docs", "graphs.md"))
    bare = [m.group(0) for m in re.finditer(r"--dot(?=[`)\n]|$)", text)]
    if bare:
        fail("docs/graphs.md: --dot without its file name %d times" % len(bare))
    m = re.search(r"((?:`[a-z0-9_]+`(?:, | and )?)+) take `--dot FILE`", text)
    if not m:
        return fail("docs/graphs.md: no sentence \"`a`, `b` and `c` take `--dot FILE`\"")
    doc = set(re.findall(r"`([a-z0-9_]+)`", m.group(1)))
    progs = sorted(f for f in os.listdir(EXAMPLES) if os.access(os.path.join(EXAMPLES, f), os.X_OK) and
                   os.path.isfile(os.path.join(EXAMPLES, f)) and not f.endswith((".so", ".a")))
    has = set()
    for p in progs:
        rc, out, err = run_example(p, "--help", timeout=60)
        if re.search(r"^\s+--dot\b", out + err, re.M):
            has.add(p)
    if len(progs) < 10:
        fail("only %d example programs found in %s" % (len(progs), EXAMPLES))
    if doc != has:
        fail("docs/graphs.md says %s take --dot FILE; their --help says %s" % (sorted(doc), sorted(has)))
    else:
        print("docs/graphs.md: --dot FILE for %s, as their --help says" % ", ".join(sorted(has)))


def test_isa_note():
    quoting, before = [], len(T.failures)
    for page in PAGES:
        text = read(page)
        if re.search(r"result: \S+=\d|test accuracy [0-9.]+|\*\*0\.\d+\*\*", text):
            quoting.append(page)
            if ISA_ANCHOR not in text and "## Figures and the instruction set" not in text:
                fail("%s quotes results but does not link README's #%s" % (page, ISA_ANCHOR))
    readme = read("README.md")
    sec = readme[readme.find("## Figures and the instruction set"):]
    if "## Figures and the instruction set" not in readme or not re.search(r"AVX-512", sec[:3000]) or \
            not re.search(r"AVX2", sec[:3000]):
        fail("README.md: no section 'Figures and the instruction set' naming the machines (AVX-512, AVX2)")
    if len(quoting) < 5:
        fail("only %d pages found quoting results: the pattern is broken" % len(quoting))
    if len(T.failures) == before:
        print("instruction-set note: %d pages quote figures, each links it" % len(quoting))


def main():
    if sanitized(BUILD):
        print("SKIP: sanitizer build (an outside program cannot link a sanitized library as written)")
        return 77
    for t in (test_graphs_dot, test_isa_note, test_runnable):
        try:
            t()
        except Exception as e:  # a crash is a failure, not a Python traceback exit
            fail("%s raised %r" % (t.__name__, e))
    return T.exit_code()


if __name__ == "__main__":
    sys.exit(main())
