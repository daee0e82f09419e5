#!/usr/bin/env python3
"""The contract for adding an op (issue 14, section 6), checked.

- registry: every `tg_op_*` object defined in the build's layer libraries
  (nm over libtgcore.a, libtgops.a, libtggraph.a) is a line of ops/ops.def,
  and every line of ops.def is defined; `gradcheck --list` (the registry
  table the build made) is ops.def in order. An op defined but left out of
  ops.def would otherwise escape the gradient sweep of test_ops.
- call sites: every public function that ops/ defines (nm: T tg_[a-z]...)
  and the header declares returning `tg_tensor *` or `tg_status` has its
  `#define f(...) TG_AT(f(__VA_ARGS__))` (TG_AT_STATUS for a status), and
  every op of ops.def has its public wrapper tg_<name>.
- the guide: every C block of "The built-in path" in docs/adding-an-op.md is
  code of ops/activation.c, line for line (a `/* ... */` line marks a cut);
  the checklist names the files the walk below edits, no more, no fewer.
- the walk: the checklist applied to a copy of the tree for a new op y = x³
  (walk_cube): a new ops file, its ops.def line, its meson.build entry, its
  prototype and TG_AT line, docs/api regenerated. The new file and
  registry.c are compiled with the build's own flags (-Werror included) and
  linked ahead of the build's libtapegrad.a, whose registry they replace; a
  driver then finds the op in the registry, runs its full sweep (which must
  pass, and must fail with a wrong backward), and calls tg_walk_cube through
  its TG_AT macro (the node must note the driver's line). make_api --check
  and --stale pass on the copy, and the reference lists tg_walk_cube. The
  registry and call-site checks above pass on the copy; controls: without
  the ops.def line the registry check fails, without the TG_AT line the
  call-site check fails.

Needs nm and the C compiler of the build (compile_commands.json). Standard
library only. Exit 0 pass, 1 fail.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

from testlib import Tally

SRC = os.environ.get("TG_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BUILD = os.environ.get("TG_BUILDDIR", os.path.join(SRC, "build"))
LIBS = ["libtgcore.a", "libtgops.a", "libtggraph.a"]
T = Tally()
fail = T.fail
failures = T.failures


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()


def ops_def_names(root):
    """The TG_OP(name) lines of ops/ops.def, in order (comments removed)."""
    text = re.sub(r"/\*.*?\*/", "", read(root, "ops/ops.def"), flags=re.S)
    return re.findall(r"^\s*TG_OP\((\w+)\)", text, re.M)


def nm_defined(paths):
    """{symbol: type letter} of the global definitions in the objects/archives."""
    p = subprocess.run(["nm", "--defined-only"] + paths, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("nm failed: %s" % p.stderr.strip())
    syms = {}
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isupper():
            syms[parts[2]] = parts[1]
    return syms


# ---- the registry: tg_op_* objects against ops.def ----

def registry_errors(root, syms):
    """Errors: tg_op_* data definitions not in ops.def, ops.def lines not defined."""
    names = ops_def_names(root)
    defined = {s[len("tg_op_"):] for s, t in syms.items() if s.startswith("tg_op_") and t in "DRBGS"}
    errs = ["tg_op_%s is defined but not in ops/ops.def (the sweep would skip it)" % n
            for n in sorted(defined - set(names))]
    errs += ["ops/ops.def lists %s but no library defines tg_op_%s" % (n, n)
             for n in sorted(set(names) - defined)]
    if len(set(names)) != len(names):
        errs.append("ops/ops.def lists an op twice")
    return names, defined, errs


def test_registry():
    paths = [os.path.join(BUILD, lib) for lib in LIBS]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        return fail("no layer libraries: %s" % missing)
    names, defined, errs = registry_errors(SRC, nm_defined(paths))
    for e in errs:
        fail("registry: " + e)
    if len(defined) < 40:  # 49 when this test was written; a broken nm parse finds none
        fail("registry: only %d tg_op_* definitions found" % len(defined))
    p = subprocess.run([os.path.join(BUILD, "examples", "gradcheck"), "--list"], capture_output=True,
                       text=True, timeout=60)
    listed = p.stdout.split()
    if p.returncode != 0 or listed != names:
        fail("registry: gradcheck --list (rc %d) is not ops.def in order: %s" % (p.returncode, listed))
    if not errs:
        print("registry: %d tg_op_* definitions, all in ops.def; gradcheck --list matches" % len(defined))


# ---- call sites: the TG_AT block of the header ----

def header_functions(header):
    """{name: 'tensor' | 'status' | 'other'} of the function prototypes."""
    text = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    out = {}
    for m in re.finditer(r"^[ \t]*((?:const\s+)?\w+)\s*(\*?)\s*(tg_[a-z]\w*)\s*\(", text, re.M):
        ret = m.group(1) + m.group(2)
        out[m.group(3)] = "tensor" if ret == "tg_tensor*" else "status" if ret == "tg_status" else "other"
    return out


def header_wrappers(header):
    """{name: 'TG_AT' | 'TG_AT_STATUS'} of the call-site macros."""
    return {m.group(1): m.group(2) for m in re.finditer(
        r"^#define\s+(tg_\w+)\(\.\.\.\)\s+(TG_AT|TG_AT_STATUS)\((\w+)\(__VA_ARGS__\)\)", header, re.M)
        if m.group(3) == m.group(1)}


def call_site_errors(root, ops_syms):
    header = read(root, "core/tapegrad.h")
    funcs, wraps = header_functions(header), header_wrappers(header)
    want = {s for s, t in ops_syms.items() if t == "T" and re.match(r"tg_[a-z]", s)
            and funcs.get(s) in ("tensor", "status")}
    errs = []
    for n in ops_def_names(root):
        if funcs.get("tg_" + n) != "tensor":
            errs.append("op %s has no public wrapper tg_%s declared in core/tapegrad.h" % (n, n))
        want.add("tg_" + n)
    for f in sorted(want):
        kind = "TG_AT_STATUS" if funcs.get(f) == "status" else "TG_AT"
        if wraps.get(f) != kind:
            errs.append("core/tapegrad.h has no `#define %s(...) %s(%s(__VA_ARGS__))`" % (f, kind, f))
    return want, errs


def test_call_sites():
    want, errs = call_site_errors(SRC, nm_defined([os.path.join(BUILD, "libtgops.a")]))
    for e in errs:
        fail("call sites: " + e)
    if len(want) < 40:
        fail("call sites: only %d op functions found" % len(want))
    if not errs:
        print("call sites: %d op functions of ops/, each with its TG_AT macro" % len(want))


# ---- the guide ----

def guide_section(doc, title):
    start = doc.find("\n## " + title)
    if start < 0:
        return None
    end = doc.find("\n## ", start + 1)
    return doc[start:end if end > 0 else len(doc)]


def stripped(text):
    return [l.strip() for l in text.strip("\n").splitlines()]


def block_in_code(block, code_lines):
    """Each run of the block between `/* ... */` lines is contiguous code."""
    text = "\n" + "\n".join(code_lines) + "\n"
    runs, cur = [], []
    for l in stripped(block):
        if l == "/* ... */":
            runs.append(cur)
            cur = []
        else:
            cur.append(l)
    runs.append(cur)
    for r in runs:
        if r and "\n" + "\n".join(r) + "\n" not in text:
            return next((l for l in r if l not in code_lines), r[0])
    return None


# The files the walk below edits, as the checklist must name them.
WALK_FILES = {"ops/<name>.c", "ops/ops.def", "meson.build", "core/tapegrad.h", "docs/make_api.py",
              "docs/api/README.md"}


def checklist_files(doc):
    sec = guide_section(doc, "Checklist")
    if sec is None:
        return None, 0
    steps = re.findall(r"^\d+\. .*?(?=^\d+\. |\n\n|\Z)", sec, re.M | re.S)
    files = set()
    for s in steps:
        for span in re.findall(r"`([^`]+)`", s):
            files |= {f for f in re.findall(r"[\w<>.-]+(?:/[\w<>.-]+)+|\bmeson\.build\b", span)}
    return files, len(steps)


def test_guide():
    doc = read(SRC, "docs/adding-an-op.md")
    sec = guide_section(doc, "The built-in path")
    if sec is None:
        return fail("docs/adding-an-op.md has no \"## The built-in path\" section")
    code_lines = stripped(read(SRC, "ops/activation.c"))
    blocks = re.findall(r"```c\n(.*?)```", sec, re.S)
    if not blocks:
        fail("adding-an-op.md, built-in path: no C blocks")
    for b in blocks:
        bad = block_in_code(b, code_lines)
        if bad is not None:
            fail("adding-an-op.md, built-in path: a C block is not in ops/activation.c "
                 "(first line not found: %r)" % bad)
    files, n = checklist_files(doc)
    if files is None:
        return fail("docs/adding-an-op.md has no \"## Checklist\" section")
    if files != WALK_FILES:
        fail("adding-an-op.md checklist names %s; the walk edits %s" % (sorted(files), sorted(WALK_FILES)))
    for f in files:
        if "<" not in f and not os.path.exists(os.path.join(SRC, f)):
            fail("adding-an-op.md checklist names %s, which does not exist" % f)
    if not [f for f in failures if "adding-an-op" in f]:
        print("guide: %d C blocks of the built-in path are in ops/activation.c; checklist of %d steps "
              "names the %d files the walk edits" % (len(blocks), n, len(files)))


# ---- the walk ----

OP_FILE = r"""/* walk_cube.c: y = x³, dx += 3x² dy; added by test/test_op_contract.py to a
 * copy of the tree. WALK_WRONG gives it the wrong backward 2x² dy. */
#include "ops_internal.h"

#ifdef WALK_WRONG
#define WALK_K 2
#else
#define WALK_K 3
#endif

static tg_status walk_cube_forward(tg_node *n) {
    const tg_tensor *x = n->in[0];
    for (int64_t i = 0; i < x->numel; i++) {
        if (x->dtype == TG_F32) {
            const float *a = x->data;
            ((float *)n->out->data)[i] = a[i] * a[i] * a[i];
        } else {
            const double *a = x->data;
            ((double *)n->out->data)[i] = a[i] * a[i] * a[i];
        }
    }
    return TG_OK;
}

static tg_status walk_cube_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *g = tg_grad_buf(x);
    if (!g) return TG_ENOMEM;
    for (int64_t i = 0; i < x->numel; i++) {
        if (x->dtype == TG_F32) {
            const float *a = x->data, *dy = n->out->grad;
            ((float *)g)[i] += dy[i] * WALK_K * a[i] * a[i];
        } else {
            const double *a = x->data, *dy = n->out->grad;
            ((double *)g)[i] += dy[i] * WALK_K * a[i] * a[i];
        }
    }
    return TG_OK;
}

const tg_op_def tg_op_walk_cube = {
    .name = "walk_cube",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = walk_cube_forward,
    .backward = walk_cube_backward,
    .check = {.lo = -2, .hi = 2, .cases = {{"1"}, {"3,4"}, {""}, {"0"}}, .bad = {{"2;2"}}},
};
tg_tensor *tg_walk_cube(tg_tensor *x) { return tg_apply(&tg_op_walk_cube, &x, 1, NULL); }
"""

DRIVER = r"""/* The walk's driver: the op is registered, swept and callable through TG_AT. */
#include "tapegrad.h"
#include <stdio.h>
#include <stdlib.h>
int tg__opcheck_run(const char *only, int full, FILE *out, int *n_pass, int *n_fail);
int main(void) {
    const tg_op_def *d = tg_op_find("walk_cube");
    int pass = 0, fail = 0, site = 0;
    if (!d) return 3;
    if (tg__opcheck_run("walk_cube", 1, stdout, &pass, &fail) != TG_OK) return 4;
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_tape *tape = tg_tape_begin(ctx);
    int64_t shape[1] = {3};
    tg_tensor *x = tg_tensor_new(ctx, TG_F64, 1, shape);
    double v[3] = {-1.5, 0.5, 2}, y3[3];
    tg_tensor_set_f64(x, v);
    tg_tensor_requires_grad(x, 1);
    tg_tensor *y = tg_walk_cube(x); const int call_line = __LINE__;
    if (!y || !y->node) return 5;
    tg_tensor_get_f64(y, y3);
    for (int i = 0; i < 3; i++)
        if (y3[i] != v[i] * v[i] * v[i]) return 6;
    site = y->node->file && y->node->line == call_line;
    tg_tape_end(tape);
    tg_tensor_free(x);
    tg_ctx_free(ctx);
    printf("walk: ops=%d pass=%d fail=%d site=%d\n", tg_op_count(), pass, fail, site);
    return 0;
}
"""

PROTO = "tg_tensor *tg_walk_cube(tg_tensor *x);              /* x³ */\n"
TG_AT_LINE = "#define tg_walk_cube(...) TG_AT(tg_walk_cube(__VA_ARGS__))\n"


def copy_tree(dst):
    for d in ("core", "ops", "graph"):
        shutil.copytree(os.path.join(SRC, d), os.path.join(dst, d))
    os.makedirs(os.path.join(dst, "docs", "api"))
    for f in ("meson.build", "docs/make_api.py", "docs/api/README.md"):
        shutil.copy(os.path.join(SRC, f), os.path.join(dst, f))


def edit(root, rel, anchor, new, after=True):
    text = read(root, rel)
    if anchor not in text:
        raise RuntimeError("walk: %s has no %r to add to" % (rel, anchor))
    i = text.index(anchor) + (len(anchor) if after else 0)
    with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
        f.write(text[:i] + new + text[i:])


def compile_flags():
    """The build's flags for ops/registry.c, less includes, inputs and outputs."""
    with open(os.path.join(BUILD, "compile_commands.json"), encoding="utf-8") as f:
        cmds = json.load(f)
    cmd = next(c for c in cmds if c["file"].replace("\\", "/").endswith("ops/registry.c"))
    args = shlex.split(cmd["command"])
    cc, keep, skip = args[0], [], False
    for a in args[1:]:
        if skip:
            skip = False
        elif a in ("-o", "-c", "-MQ", "-MF"):
            skip = True
        elif a.startswith("-I") or a == "-MD" or a.endswith(".c"):
            pass
        else:
            keep.append(a)
    return cc, keep


def link_args():
    """test_ops's link line from build.ninja (sanitizer flags, libraries)."""
    text = read(BUILD, "build.ninja")
    m = re.search(r"^build test/test_ops: \w+ .*?\n LINK_ARGS = (.*?)\n", text, re.M | re.S)
    if not m:
        raise RuntimeError("walk: no link line for test/test_ops in build.ninja")
    return shlex.split(m.group(1))


def sh(args, cwd=None):
    p = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=300)
    return p.returncode, p.stdout + p.stderr


def test_walk():
    names0 = ops_def_names(SRC)
    cc, flags = compile_flags()
    largs = link_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "tree")
        copy_tree(root)
        # 1. the file
        with open(os.path.join(root, "ops", "walk_cube.c"), "w", encoding="utf-8") as f:
            f.write(OP_FILE)
        # 2. the registry line
        with open(os.path.join(root, "ops", "ops.def"), "a", encoding="utf-8") as f:
            f.write("TG_OP(walk_cube)\n")
        # 3. the build
        edit(root, "meson.build", "'ops/registry.c',", " 'ops/walk_cube.c',")
        if "'ops/walk_cube.c'" not in read(root, "meson.build").split("ops_sources = files(")[1].split(")")[0]:
            fail("walk: meson.build's ops_sources did not take the new file")
        # 4. the prototype, first of the built-in ops; 5. the TG_AT line
        edit(root, "core/tapegrad.h", "tg_tensor *tg_add(", PROTO, after=False)
        edit(root, "core/tapegrad.h", "#endif /* !TG_NO_CALL_SITES */", TG_AT_LINE, after=False)
        # 6. the API reference
        rc, out = sh([sys.executable, os.path.join(root, "docs", "make_api.py")])
        if rc != 0:
            fail("walk: make_api.py failed: %s" % out)
        for opt in ("--check", "--stale"):
            rc, out = sh([sys.executable, os.path.join(root, "docs", "make_api.py"), opt])
            if rc != 0:
                fail("walk: make_api.py %s fails on the copy: %s" % (opt, out[-500:]))
        if "tg_walk_cube" not in read(root, "docs/api/README.md"):
            fail("walk: docs/api/README.md does not list tg_walk_cube")
        # build: the new file and registry.c with the build's flags, ahead of libtapegrad.a
        inc = ["-I" + os.path.join(root, d) for d in ("core", "ops", "graph")]
        objs = {}
        for name, src, extra in (("walk_cube", "ops/walk_cube.c", []),
                                 ("walk_wrong", "ops/walk_cube.c", ["-DWALK_WRONG"]),
                                 ("registry", "ops/registry.c", []), ("driver", "driver.c", [])):
            if name == "driver":
                with open(os.path.join(root, "driver.c"), "w", encoding="utf-8") as f:
                    f.write(DRIVER)
            obj = os.path.join(tmp, name + ".o")
            rc, out = sh([cc] + flags + extra + inc + ["-c", os.path.join(root, src), "-o", obj], cwd=BUILD)
            if rc != 0:
                return fail("walk: compiling %s failed:\n%s" % (src, out[-2000:]))
            objs[name] = obj
        results, outs = {}, {}
        for variant in ("walk_cube", "walk_wrong"):
            exe = os.path.join(tmp, variant)
            rc, out = sh([cc, "-o", exe, objs["driver"], objs[variant], objs["registry"]] + largs, cwd=BUILD)
            if rc != 0:
                return fail("walk: linking %s failed:\n%s" % (variant, out[-2000:]))
            rc, out = sh([exe])
            m = re.search(r"walk: ops=(\d+) pass=(\d+) fail=(\d+) site=(\d)", out)
            if rc != 0 or not m:
                return fail("walk: %s exited %d:\n%s" % (variant, rc, out[-2000:]))
            results[variant] = [int(g) for g in m.groups()]
            outs[variant] = out
        ops, npass, nfail, site = results["walk_cube"]
        if ops != len(names0) + 1:
            fail("walk: the registry has %d ops, want %d" % (ops, len(names0) + 1))
        if npass < 10 or nfail != 0:  # 4 cases (one empty) x (f64, f32/f64, zero-dy, twice, used-2x), bad, spec
            fail("walk: sweep of walk_cube: %d passed, %d failed; want >= 4 and 0:\n%s" %
                 (npass, nfail, outs["walk_cube"]))
        if site != 1:
            fail("walk: tg_walk_cube through its TG_AT macro did not note the driver's line")
        if results["walk_wrong"][2] == 0:
            fail("walk: the sweep passed walk_cube with the backward 2x² dy")
        # the contract checks on the copy, then with a step left out
        syms = nm_defined([objs["walk_cube"], objs["registry"]] + [os.path.join(BUILD, l) for l in LIBS])
        ops_syms = nm_defined([objs["walk_cube"], objs["registry"], os.path.join(BUILD, "libtgops.a")])
        errs = registry_errors(root, syms)[2] + call_site_errors(root, ops_syms)[1]
        for e in errs:
            fail("walk: contract check on the copy: " + e)
        with open(os.path.join(root, "ops", "ops.def"), encoding="utf-8") as f:
            full_def = f.read()
        with open(os.path.join(root, "ops", "ops.def"), "w", encoding="utf-8") as f:
            f.write(full_def.replace("TG_OP(walk_cube)\n", ""))
        ctl1 = [e for e in registry_errors(root, syms)[2] if "walk_cube" in e]
        with open(os.path.join(root, "ops", "ops.def"), "w", encoding="utf-8") as f:
            f.write(full_def)
        header = read(root, "core/tapegrad.h")
        with open(os.path.join(root, "core", "tapegrad.h"), "w", encoding="utf-8") as f:
            f.write(header.replace(TG_AT_LINE, ""))
        ctl2 = [e for e in call_site_errors(root, ops_syms)[1] if "walk_cube" in e]
        if not ctl1:
            fail("walk: control: the registry check passed without the ops.def line")
        if not ctl2:
            fail("walk: control: the call-site check passed without the TG_AT line")
        if not [f for f in failures if f.startswith("walk")]:
            print("walk: walk_cube added by the checklist: %d ops, sweep %d passed 0 failed (wrong backward: "
                  "%d failed), TG_AT notes the call line, docs list it; controls: %s / %s" %
                  (ops, npass, results["walk_wrong"][2], ctl1[0], ctl2[0]))


def main():
    return T.run_all((test_registry, test_call_sites, test_guide, test_walk))


if __name__ == "__main__":
    sys.exit(main())
