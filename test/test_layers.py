#!/usr/bin/env python3
"""The layers point one way: core <- ops <- graph (docs/design.md).

Reads the build's three layer libraries (libtgcore.a, libtgops.a,
libtggraph.a) with nm and fails when an object of a lower layer needs a
symbol that a higher layer defines: a core/ object calling into ops/ or
graph/, or an ops/ object calling into graph/. The include paths already
stop an upward #include; this catches a prototype declared by hand.

Positive controls, so the test cannot pass having read nothing: every layer
has objects and defines symbols, and ops/ and graph/ do call down (into
core/, and graph/ into ops/).
"""
import os
import subprocess
import sys

LAYERS = ["core", "ops", "graph"]


def symbols(archive):
    """{object: (defined set, undefined set)} for one static library."""
    out = subprocess.run(["nm", "-A", archive], capture_output=True, text=True, check=True).stdout
    objs = {}
    for line in out.splitlines():
        # "libtgcore.a:core_ctx.c.o:0000000000000000 T tg_ctx_new" or "...:         U malloc"
        head, _, rest = line.rpartition(":")
        obj = head.split(":")[-1]
        parts = rest.split()
        d, u = objs.setdefault(obj, (set(), set()))
        if len(parts) == 3 and parts[1] in ("T", "D", "B", "R", "C", "V", "W"):
            d.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            u.add(parts[1])
    return objs


def main():
    build = os.environ.get("TG_BUILDDIR") or (sys.argv[1] if len(sys.argv) > 1 else "build")
    libs = {}
    for layer in LAYERS:
        path = os.path.join(build, "libtg%s.a" % layer)
        if not os.path.exists(path):
            print("FAIL: %s not built" % path)
            return 1
        libs[layer] = symbols(path)
    defined_in = {}
    for rank, layer in enumerate(LAYERS):
        n_def = 0
        for obj, (d, _) in libs[layer].items():
            for s in d:
                defined_in[s] = (rank, layer, obj)
            n_def += len(d)
        if not libs[layer] or n_def == 0:
            print("FAIL: layer %s has no objects or defines nothing" % layer)
            return 1
    bad = []
    down = {layer: 0 for layer in LAYERS}
    for rank, layer in enumerate(LAYERS):
        for obj, (_, u) in sorted(libs[layer].items()):
            for s in sorted(u):
                if s not in defined_in:
                    continue
                r2, l2, o2 = defined_in[s]
                if r2 > rank:
                    bad.append("%s/%s needs %s, defined in %s/%s" % (layer, obj, s, l2, o2))
                elif r2 < rank:
                    down[layer] += 1
    for line in bad:
        print("FAIL: upward call: " + line)
    if down["ops"] == 0 or down["graph"] == 0:
        print("FAIL: no downward references found (ops %d, graph %d): nm read nothing useful" %
              (down["ops"], down["graph"]))
        return 1
    n_obj = sum(len(libs[layer]) for layer in LAYERS)
    print("layers: %d objects (core %d, ops %d, graph %d); downward references ops %d, graph %d; "
          "upward %d" % (n_obj, len(libs["core"]), len(libs["ops"]), len(libs["graph"]),
                         down["ops"], down["graph"], len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
