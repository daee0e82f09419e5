#!/usr/bin/env python3
"""Runs autoencoder, vae and gan briefly, as a user would, and checks what
they print and write.

- Bad command lines exit 2 with a message naming the flag, before training.
- autoencoder: a short sparse run at a fixed seed, one thread, reaches a
  test_mse a stated margin below the same run untrained (--lr 1e-30); a
  short --stacked run's finetune_acc and scratch_acc are a stated margin
  above chance (0.1 over 10 classes); the PNG of originals and
  reconstructions is a well-formed PNG of the right size.
- vae: a one-epoch run at a fixed seed, one thread, scores a test ELBO a
  stated margin above the better of two baselines computed here (a decoder
  that outputs logit 0 everywhere: -784 ln 2; the same run untrained,
  --lr 1e-30), and writes the two PNGs.
- gan: a ring run at a fixed seed, one thread, covers a stated number of
  modes more than the same run untrained, with hq a stated margin above the
  untrained one, and writes a parseable SVG; a short image run's d_loss is a
  stated margin below the untrained run's, its judge scores real images and
  classifies them a margin above chance (class_score and modes_covered do
  not separate from an untrained generator in a run this short: see the
  numbers in test_images), and it writes the per-epoch and final PNG grids.
Each floor's margin was calibrated over several seeds (the spread is in a
comment beside it); the test runs one seed on one thread, so its result is
deterministic and the margin covers a change of seed.

The image runs need Fashion-MNIST (TG_DATA or /usr/share/datasets/fashion-mnist)
and are skipped without it (exit 77: a partial run is not a pass). Only the
standard library is used: the PNG checks read the signature and the IHDR
chunk directly. Exit 0 pass, 1 fail, 77 skipped.
"""
import functools
import math
import os
import struct
import sys
import tempfile
import xml.etree.ElementTree as ET

from testlib import DATA, EXAMPLES, Tally, have_data, run_example

GAP = 2  # TG_PNG_GAP
T = Tally()
fail = T.fail


def run(prog, *args, timeout=120):
    return run_example(prog, *args, timeout=timeout)


def result(prog, args, pattern):
    """Run prog, check exit 0 and the result line against pattern; return its fields.

    The limit is generous: the ring's 10 epochs take about 4 s in a release
    build but 51 s of CPU (300 s on a loaded machine) under the sanitizers,
    where the same floors hold (the results are bitwise the same)."""
    return T.result(prog, *args, pattern=pattern, timeout=900)[0]


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


RING_PAT = r"result: modes_covered=\d d_loss=\d+\.\d{4} g_loss=-?\d+\.\d{4} hq=[01]\.\d{4} seconds="
# gan --data ring --epochs 10 (50,000 points, about 4 s on one thread), seeds
# 1..6: modes_covered 8 6 8 8 7 7, hq 0.838 0.819 0.844 0.869 0.799 0.803.
# Untrained (--lr 1e-30), seeds 1..3: modes_covered 0 0 0, hq 0.087 0.040 0.042.
RING_MODES_MARGIN = 5  # over the untrained count: the worst seed covered 6 of 8
RING_HQ_MARGIN = 0.6  # over the untrained hq: the worst seed was 0.71 above the worst baseline


def test_ring(tmp):
    base = result("gan", ["--data", "ring", "--limit", "2048", "--epochs", "1", "--lr", "1e-30", "--svg", "none",
                          "--threads", "1", "--seed", "1"], RING_PAT)
    svg = os.path.join(tmp, "ring.svg")
    r = result("gan", ["--data", "ring", "--epochs", "10", "--svg", svg, "--threads", "1", "--seed", "1"], RING_PAT)
    if r and base:
        want_m = int(base["modes_covered"]) + RING_MODES_MARGIN
        want_h = float(base["hq"]) + RING_HQ_MARGIN
        if int(r["modes_covered"]) < want_m:
            fail("gan ring: modes_covered %s < %d (untrained %s + %d)" % (r["modes_covered"], want_m,
                                                                       base["modes_covered"], RING_MODES_MARGIN))
        if float(r["hq"]) < want_h:
            fail("gan ring: hq %s < %.4f (untrained %s + %g)" % (r["hq"], want_h, base["hq"], RING_HQ_MARGIN))
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
    if not have_data():
        return T.skip("image runs (no data set at %s)" % DATA)
    # autoencoder --limit 2000 --sparse 1e-4, one thread: 2 epochs, seeds 1..5:
    # test_mse 0.05075 0.04946 0.05022 0.04913 0.04715; untrained (--lr 1e-30,
    # 1 epoch), seeds 1..3: 0.17694 0.17799 0.17573.
    ae_pat = r"result: test_mse=0\.\d{5} code_active=[01]\.\d{4} seconds="
    ae_margin = 0.10  # below the untrained test_mse: the worst seed was 0.125 below the lowest baseline
    ae = ["autoencoder", ["--data", DATA, "--limit", "2000", "--sparse", "1e-4", "--threads", "1", "--seed", "1"]]
    base = result(ae[0], ae[1] + ["--epochs", "1", "--lr", "1e-30", "--png", "none"], ae_pat)
    png = os.path.join(tmp, "ae.png")
    r = result(ae[0], ae[1] + ["--epochs", "2", "--png", png], ae_pat)
    if r and base and not float(r["test_mse"]) <= float(base["test_mse"]) - ae_margin:
        fail("autoencoder: test_mse %s, want <= untrained %s - %g" % (r["test_mse"], base["test_mse"], ae_margin))
    check_png(png, grid_side(8), grid_side(8))
    # --stacked --labeled 1000 --hidden 64,32, 2 epochs, seeds 1..5: finetune_acc
    # 0.560 0.558 0.562 0.504 0.588, scratch_acc 0.567 0.612 0.618 0.499 0.574.
    # Chance over the 10 classes is 0.1; untrained (--lr 1e-30), seeds 1..2:
    # 0.081 / 0.041 and 0.149 / 0.067.
    acc_margin = 0.3  # over chance: the worst seed was 0.399 over it
    chance = 1.0 / 10
    r = result("autoencoder", ["--data", DATA, "--limit", "2000", "--epochs", "2", "--stacked", "--labeled", "1000",
                               "--hidden", "64,32", "--png", "none", "--threads", "1", "--seed", "1"],
               r"result: test_mse=0\.\d{5} finetune_acc=[01]\.\d{4} scratch_acc=[01]\.\d{4} "
               r"code_active=[01]\.\d{4} seconds=")
    for key in ("finetune_acc", "scratch_acc"):
        if r and not float(r[key]) >= chance + acc_margin:
            fail("autoencoder --stacked: %s %s, want >= chance %g + %g" % (key, r[key], chance, acc_margin))

    # vae --limit 3000 --epochs 1, seeds 1..5: test_elbo -336.87 -339.06 -339.18
    # -337.49 -338.45 (spread 2.3 nats). Baselines: logit 0 for every pixel
    # costs ln 2 per pixel with KL 0, -784 ln 2 = -543.4; the untrained run
    # (--lr 1e-30) scored -653.8 -638.1 -620.5 on seeds 1..3.
    vae_pat = r"result: test_elbo=-\d+\.\d{2} rec=\d+\.\d{2} kl=\d+\.\d{2} seconds="
    vae_margin = 180.0  # nats over the better baseline; the worst seed was 204 over -543.4
    base = result("vae", ["--data", DATA, "--limit", "3000", "--epochs", "1", "--lr", "1e-30", "--samples", "none",
                          "--recon", "none", "--threads", "1", "--seed", "1"], vae_pat)
    s, rc_ = os.path.join(tmp, "s.png"), os.path.join(tmp, "r.png")
    r = result("vae", ["--data", DATA, "--limit", "3000", "--epochs", "1", "--samples", s, "--recon", rc_,
                       "--threads", "1", "--seed", "1"], vae_pat)
    if r and base:
        floor = max(-784 * math.log(2), float(base["test_elbo"])) + vae_margin
        if not floor < float(r["test_elbo"]) < -150:
            fail("vae: test_elbo %s outside (%.2f, -150): the floor is max(-784 ln 2, untrained %s) + %g"
                 % (r["test_elbo"], floor, base["test_elbo"], vae_margin))
    check_png(s, grid_side(8), grid_side(8))
    check_png(rc_, grid_side(8), grid_side(8))

    # gan on images, --limit 1024 --epochs 2, seeds 1..5: d_loss 0.458 0.522
    # 0.506 0.437 0.503, real_score 3.65 3.70 3.80 3.67 3.68, judge_acc 0.707
    # 0.713 0.665 0.694 0.710, class_score 1.01-1.02, modes_covered 1-2.
    # Untrained (--lr 1e-30, 1 epoch), seeds 1..3: d_loss 1.309 1.899 1.382,
    # class_score 1.01-1.02, modes_covered 1. At a test's size the samples do
    # not beat the untrained generator (class_score was still 1.07 after 6
    # epochs of 8,192 images, 22 s; the default 20 epochs reach 4.84 in about
    # 4 minutes, docs/tutorial/07-gan.md), so class_score and modes_covered
    # get no floor here; what does separate from its baseline is checked:
    # D learns (d_loss below the untrained run's) and the judge behind
    # class_score works (real_score and judge_acc above chance: a judge that
    # knows nothing scores 1 and is right 1 time in 10).
    gan_pat = (r"result: modes_covered=\d+ d_loss=\d+\.\d{4} g_loss=-?\d+\.\d{4} class_score=\d+\.\d{2} "
               r"real_score=\d+\.\d{2} judge_acc=[01]\.\d{4} seconds=")
    d_margin = 0.6  # below the untrained d_loss: the worst seed was 0.79 below the lowest baseline
    real_margin = 2.0  # over 1: the worst seed scored 3.65
    acc_margin = 0.45  # over 0.1: the worst seed was right 0.665 of the time
    base = result("gan", ["--data", DATA, "--limit", "1024", "--epochs", "1", "--lr", "1e-30", "--png", "none",
                          "--threads", "1", "--seed", "1"], gan_pat)
    g = os.path.join(tmp, "g.png")
    r = result("gan", ["--data", DATA, "--limit", "1024", "--epochs", "2", "--png", g, "--png-every", "1",
                       "--threads", "1", "--seed", "1"], gan_pat)
    if r and base:
        if not float(r["d_loss"]) <= float(base["d_loss"]) - d_margin:
            fail("gan: d_loss %s, want <= untrained %s - %g" % (r["d_loss"], base["d_loss"], d_margin))
        if not float(r["real_score"]) >= 1 + real_margin:
            fail("gan: real_score %s, want >= 1 + %g" % (r["real_score"], real_margin))
        if not float(r["judge_acc"]) >= 0.1 + acc_margin:
            fail("gan: judge_acc %s, want >= 0.1 + %g" % (r["judge_acc"], acc_margin))
    check_png(g, grid_side(8), grid_side(8))
    check_png(os.path.join(tmp, "g_epoch1.png"), grid_side(8), grid_side(8))


def main():
    if not os.path.isdir(EXAMPLES):
        print("FAIL: no examples directory at %s (set TG_BUILDDIR)" % EXAMPLES)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        return T.run_all((test_bad_flags, functools.partial(test_ring, tmp), functools.partial(test_images, tmp)))


if __name__ == "__main__":
    sys.exit(main())
