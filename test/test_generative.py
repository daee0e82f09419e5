#!/usr/bin/env python3
"""Runs autoencoder, vae and gan briefly, as a user would, and checks what
they print and write.

- Bad command lines exit 2 with a message naming the flag, before training.
- autoencoder: a short sparse run and a short --stacked run print
  result lines with test_mse (and finetune_acc, scratch_acc), and the PNG of
  originals and reconstructions is a well-formed PNG of the right size.
- vae: a one-epoch run prints a negative, finite test_elbo and writes the two
  PNGs.
- gan: a short ring run reports modes_covered in 0..8 and writes a parseable
  SVG; a short image run reports modes_covered in 0..10, class_score in
  [1, 10], and writes the per-epoch and final PNG grids.

The image runs need Fashion-MNIST (TG_DATA or /usr/share/datasets/fashion-mnist)
and are skipped without it. Only the standard library is used: the PNG
checks read the signature and the IHDR chunk directly. Exit 0 pass, 1 fail.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

BUILD = os.environ.get("TG_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", "build"))
EXAMPLES = os.path.join(BUILD, "examples")
DATA = os.environ.get("TG_DATA", "/usr/share/datasets/fashion-mnist")
GAP = 2  # TG_PNG_GAP
failures = []


def fail(msg):
    print("FAIL:", msg)
    failures.append(msg)


def run(prog, *args, timeout=120):
    cmd = [os.path.join(EXAMPLES, prog)] + [str(a) for a in args]
    env = dict(os.environ, TG_PROGRESS="0")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def result(prog, args, pattern):
    """Run prog, check exit 0 and the result line against pattern; return its fields."""
    rc, out, err = run(prog, *args)
    what = "%s %s" % (prog, " ".join(str(a) for a in args))
    if rc != 0:
        fail("%s: exit %d: %s" % (what, rc, err.strip()[-500:]))
        return None
    lines = out.strip().splitlines()
    last = lines[-1] if lines else ""
    if not re.match(pattern, last):
        fail("%s: result line %r does not match %r" % (what, last, pattern))
        return None
    print("%s\n  %s" % (what, last))
    return dict(kv.split("=", 1) for kv in last[len("result: "):].split())


def check_png(path, width, height):
    try:
        with open(path, "rb") as f:
            head = f.read(33)
    except OSError as e:
        return fail("%s: %s" % (path, e))
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return fail("%s: not a PNG signature" % path)
    length, kind = struct.unpack(">I4s", head[8:16])
    w, h, depth, colour = struct.unpack(">IIBB", head[16:26])
    if kind != b"IHDR" or length != 13 or (w, h) != (width, height) or depth != 8 or colour != 0:
        fail("%s: IHDR %s %dx%d depth %d colour %d, want %dx%d 8-bit grey" % (path, kind, w, h, depth, colour,
                                                                         width, height))


def grid_side(tiles, tile=28):
    return tiles * (tile + GAP) + GAP


def test_bad_flags():
    cases = [
        ("autoencoder", ["--sparse", "-1"], "sparse"),
        ("autoencoder", ["--labeled", "100"], "stacked"),
        ("autoencoder", ["--hidden", "1,2,3,4,5,6,7,8,9"], "hidden"),
        ("autoencoder", ["--png", "/nonexistent-dir/a.png"], "/nonexistent-dir/a.png"),
        ("vae", ["--latent", "0"], "latent"),
        ("vae", ["--samples", "/nonexistent-dir/s.png"], "/nonexistent-dir/s.png"),
        ("gan", ["--k", "0"], "k"),
        ("gan", ["--gen-loss", "wasserstein"], "wasserstein"),
        ("gan", ["--optim", "adam", "--momentum", "0.9"], "momentum"),
        ("gan", ["--data", "/nonexistent"], "/nonexistent"),
    ]
    for prog, args, needle in cases:
        rc, out, err = run(prog, *args, timeout=30)
        what = "%s %s" % (prog, " ".join(args))
        if rc != 2:
            fail("%s: exit %d, want 2 (stderr %r)" % (what, rc, err))
        elif needle not in err:
            fail("%s: stderr does not mention %r: %r" % (what, needle, err))
        if "epoch" in out:
            fail("%s: training started before the error was found" % what)
    for prog in ("autoencoder", "vae", "gan"):
        rc, out, _ = run(prog, "--help", timeout=30)
        if rc != 0 or ("Usage: %s" % prog) not in out:
            fail("%s --help: exit %d, output %r" % (prog, rc, out[:200]))
    print("%d bad command lines rejected" % len(cases))


def test_ring(tmp):
    svg = os.path.join(tmp, "ring.svg")
    r = result("gan", ["--data", "ring", "--limit", "4096", "--epochs", "2", "--svg", svg, "--threads", "1"],
               r"result: modes_covered=\d d_loss=\d+\.\d{4} g_loss=-?\d+\.\d{4} hq=[01]\.\d{4} seconds=")
    if r and not 0 <= int(r["modes_covered"]) <= 8:
        fail("gan ring: modes_covered %s outside 0..8" % r["modes_covered"])
    try:
        root = ET.parse(svg).getroot()
        if not root.tag.endswith("svg") or len(root.findall(".//{http://www.w3.org/2000/svg}circle")) < 100:
            fail("gan ring: %s has too few points" % svg)
    except Exception as e:  # noqa: BLE001
        fail("gan ring: %s is not valid SVG: %s" % (svg, e))
    r = result("gan", ["--data", "ring", "--limit", "2048", "--epochs", "1", "--svg", "none", "--optim", "momentum",
                       "--gen-loss", "minimax", "--k", "2", "--threads", "1"],
               r"result: modes_covered=\d d_loss=\d+\.\d{4} g_loss=-\d+\.\d{4} hq=")


def test_images(tmp):
    if not os.path.isdir(DATA):
        print("SKIP: image runs (no data set at %s)" % DATA)
        return
    png = os.path.join(tmp, "ae.png")
    r = result("autoencoder", ["--data", DATA, "--limit", "2000", "--epochs", "2", "--sparse", "1e-4", "--png", png],
               r"result: test_mse=0\.\d{5} code_active=[01]\.\d{4} seconds=")
    if r and not float(r["test_mse"]) < 0.06:
        fail("autoencoder: test_mse %s >= 0.06 after 2 epochs on 2000 images" % r["test_mse"])
    check_png(png, grid_side(8), grid_side(8))
    r = result("autoencoder", ["--data", DATA, "--limit", "2000", "--epochs", "2", "--stacked", "--labeled", "1000",
                               "--hidden", "64,32", "--png", "none"],
               r"result: test_mse=0\.\d{5} finetune_acc=[01]\.\d{4} scratch_acc=[01]\.\d{4} "
               r"code_active=[01]\.\d{4} seconds=")
    if r and not (float(r["finetune_acc"]) > 0.3 and float(r["scratch_acc"]) > 0.3):
        fail("autoencoder --stacked: accuracies %s / %s, want > 0.3" % (r["finetune_acc"], r["scratch_acc"]))

    s, rc_ = os.path.join(tmp, "s.png"), os.path.join(tmp, "r.png")
    r = result("vae", ["--data", DATA, "--limit", "3000", "--epochs", "1", "--samples", s, "--recon", rc_],
               r"result: test_elbo=-\d+\.\d{2} rec=\d+\.\d{2} kl=\d+\.\d{2} seconds=")
    if r and not -600 < float(r["test_elbo"]) < -150:
        fail("vae: test_elbo %s outside (-600, -150) after one short epoch" % r["test_elbo"])
    check_png(s, grid_side(8), grid_side(8))
    check_png(rc_, grid_side(8), grid_side(8))

    g = os.path.join(tmp, "g.png")
    r = result("gan", ["--data", DATA, "--limit", "1024", "--epochs", "2", "--png", g, "--png-every", "1"],
               r"result: modes_covered=\d+ d_loss=\d+\.\d{4} g_loss=-?\d+\.\d{4} class_score=\d+\.\d{2} "
               r"real_score=\d+\.\d{2} judge_acc=[01]\.\d{4} seconds=")
    if r:
        if not 0 <= int(r["modes_covered"]) <= 10:
            fail("gan: modes_covered %s outside 0..10" % r["modes_covered"])
        for k in ("class_score", "real_score"):
            if not 1 <= float(r[k]) <= 10:
                fail("gan: %s %s outside [1, 10]" % (k, r[k]))
    check_png(g, grid_side(8), grid_side(8))
    check_png(os.path.join(tmp, "g_epoch1.png"), grid_side(8), grid_side(8))


def main():
    if not os.path.isdir(EXAMPLES):
        print("FAIL: no examples directory at %s (set TG_BUILDDIR)" % EXAMPLES)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        for t in (test_bad_flags, lambda: test_ring(tmp), lambda: test_images(tmp)):
            try:
                t()
            except subprocess.TimeoutExpired as e:
                fail("timed out: %s" % e)
            except FileNotFoundError as e:
                fail(str(e))
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
