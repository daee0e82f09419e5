#!/usr/bin/env python3
"""Runs examples/char_rnn and examples/treenn briefly, as a user would.

char_rnn (on small texts written here):
- each cell (rnn, lstm, gru) trains a few dozen steps on a repetitive English
  text: a well-formed result line, val_bpc below unigram_bpc;
- a Chinese text: the vocabulary counts code points (a 3-byte character is
  one token) and the sample is valid UTF-8;
- --save (and --plot), then --load --steps 0 reproduces the validation figure; a
  checkpoint of another shape is refused (exit 1); bad command lines exit 2;
- when Debian's fortunes are installed, a 3-step run on the default corpus.
treenn (small generated treebank): a well-formed result line, the tree net
beats the bag of words on negated sentences, --dot writes a DOT graph.

Only the standard library is used. Executables are found under
$TG_BUILDDIR/examples (set by meson). Exit 0 pass, 1 fail, 77 when the
default-corpus run was skipped (fortunes not installed).
"""
import functools
import os
import random
import re
import sys
import tempfile

from testlib import EXAMPLES, Tally, result_line, run_example

T = Tally()
fail = T.fail


def run(prog, *args, timeout=300):
    """stdout as bytes: the Chinese run checks the sample's UTF-8 itself."""
    return run_example(prog, *args, timeout=timeout, text=False)


def result(prog, out, keys):
    fields = result_line(out)
    if fields is None:
        fail("%s: last stdout line is not a result line: %r" % (prog, out.strip().splitlines()[-1:]))
        return None
    for k in keys:
        if k not in fields or not re.match(r"^-?\d+(\.\d+)?$", fields[k]):
            fail("%s: result line %r lacks a number for %s" % (prog, lines[-1], k))
            return None
    return {k: float(v) for k, v in fields.items() if re.match(r"^-?\d+(\.\d+)?$", v)}


def english_text(path):
    rng = random.Random(7)
    subjects = ["the cat", "a dog", "my friend", "the old man", "our teacher"]
    verbs = ["sees", "likes", "finds", "follows", "remembers"]
    objects = ["the red ball", "a small house", "the river", "an apple", "the moon"]
    with open(path, "w") as f:
        for _ in range(1500):
            f.write("%s %s %s.\n" % (rng.choice(subjects), rng.choice(verbs), rng.choice(objects)))


def chinese_text(path):
    rng = random.Random(3)
    lines = ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。", "春眠不觉晓，处处闻啼鸟。", "夜来风雨声，花落知多少。"]
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(300):
            f.write(rng.choice(lines) + "\n")
    return len(set("".join(lines) + "\n"))


CHAR_KEYS = ("val_bpc", "unigram_bpc", "train_bpc", "steps", "tokens_per_s")
SMALL = ["--hidden", "32", "--seq", "16", "--batch", "8", "--steps", "60", "--lr", "0.01", "--sample", "80"]


def test_char_rnn(tmp):
    txt = os.path.join(tmp, "en.txt")
    english_text(txt)
    for cell in ("rnn", "lstm", "gru"):
        rc, out, err = run("char_rnn", "--text", txt, "--cell", cell, *SMALL)
        if rc != 0:
            fail("char_rnn --cell %s exited %d: %s" % (cell, rc, err.strip()))
            continue
        r = result("char_rnn", out, CHAR_KEYS)
        if r is None:
            continue
        if not r["val_bpc"] < r["unigram_bpc"]:
            fail("char_rnn --cell %s: val_bpc %.3f is not below unigram_bpc %.3f" % (cell, r["val_bpc"],
                                                                                     r["unigram_bpc"]))
        print("char_rnn %s: %s" % (cell, out.decode().strip().splitlines()[-1]))

    zh = os.path.join(tmp, "zh.txt")
    n_chars = chinese_text(zh)
    rc, out, err = run("char_rnn", "--text", zh, *SMALL)
    if rc != 0:
        fail("char_rnn on Chinese text exited %d: %s" % (rc, err.strip()))
    else:
        try:
            text = out.decode("utf-8")  # strict: a split character would fail here
        except UnicodeDecodeError as e:
            fail("char_rnn on Chinese text printed invalid UTF-8: %s" % e)
            text = ""
        m = re.search(r"vocabulary (\d+)", text)
        if not m or int(m.group(1)) != n_chars:
            fail("char_rnn on Chinese text: vocabulary %s, the text has %d code points"
                 % (m.group(1) if m else "?", n_chars))
        result("char_rnn", out, CHAR_KEYS)

    ck = os.path.join(tmp, "lm.safetensors")
    svg = os.path.join(tmp, "bpc.svg")
    rc, out, err = run("char_rnn", "--text", txt, "--cell", "gru", *SMALL, "--save", ck, "--plot", svg)
    r1 = result("char_rnn", out, CHAR_KEYS) if rc == 0 else fail("char_rnn --save exited %d: %s" % (rc, err))
    if rc == 0 and (not os.path.isfile(svg) or "<svg" not in open(svg).read()):
        fail("char_rnn --plot did not write an SVG plot")
    rc, out, err = run("char_rnn", "--text", txt, "--cell", "gru", "--hidden", "32", "--seq", "16", "--batch", "8",
                       "--load", ck, "--steps", "0", "--sample", "20")
    if rc != 0:
        fail("char_rnn --load --steps 0 exited %d: %s" % (rc, err.strip()))
    elif r1:
        r2 = result("char_rnn", out, ("val_bpc", "unigram_bpc", "steps"))
        if r2 and abs(r2["val_bpc"] - r1["val_bpc"]) > 1e-4:
            fail("char_rnn --load: val_bpc %.4f, the saving run said %.4f" % (r2["val_bpc"], r1["val_bpc"]))
    rc, out, err = run("char_rnn", "--text", txt, "--cell", "gru", "--hidden", "16", "--load", ck, "--steps", "0")
    if rc != 1 or not err.strip():
        fail("char_rnn --load with another --hidden: exit %d, stderr %r (want 1 and a message)" % (rc, err))
    rc, out, err = run("char_rnn", "--text", zh, "--cell", "gru", "--hidden", "32", "--load", ck, "--steps", "0")
    if rc != 1 or "text" not in err:
        fail("char_rnn --load on another text: exit %d, stderr %r (want 1 and a message)" % (rc, err))

    # same vocabulary size, other characters: the stored vocabulary tells them apart
    a, b = os.path.join(tmp, "a.txt"), os.path.join(tmp, "b.txt")
    rng = random.Random(5)
    for path, letters in ((a, "abcdefghij"), (b, "bcdefghijk")):
        with open(path, "w") as f:
            f.write("".join(rng.choice(letters) for _ in range(3000)))
    ck2 = os.path.join(tmp, "ab.safetensors")
    rc, out, err = run("char_rnn", "--text", a, "--hidden", "8", "--steps", "1", "--sample", "0", "--save", ck2)
    if rc != 0:
        fail("char_rnn --save on a.txt exited %d: %s" % (rc, err.strip()))
    rc, out, err = run("char_rnn", "--text", b, "--hidden", "8", "--load", ck2, "--steps", "0", "--sample", "0")
    if rc != 1 or "vocabulary" not in err:
        fail("char_rnn --load with another vocabulary of the same size: exit %d, stderr %r" % (rc, err))

    bad = [(["--cell", "transformer"], "transformer"), (["--text", "/nonexistent.txt"], "/nonexistent.txt"),
           (["--hidden", "0"], "hidden"), (["--temperature", "0"], "temperature"), (["--bogus"], "--bogus"),
           (["--text", txt, "--corpus", "zh"], "--corpus"), (["--epochs", "2", "--steps", "5"], "--steps"), (["--save", "/nonexistent-dir/x"], "/nonexistent-dir/x"),
           (["--text", txt, "--seq", "1000", "--batch", "4000"], "too short")]
    for args, needle in bad:
        rc, out, err = run("char_rnn", *args, timeout=60)
        if rc != 2 or needle not in err:
            fail("char_rnn %s: exit %d, stderr %r (want 2 and %r)" % (" ".join(args), rc, err.strip(), needle))
    rc, out, err = run("char_rnn", "--help")
    if rc != 0 or b"--temperature" not in out:
        fail("char_rnn --help: exit %d" % rc)

    if os.path.isfile("/usr/share/games/fortunes/fortunes"):
        rc, out, err = run("char_rnn", "--steps", "3", "--eval-every", "3", "--hidden", "16", "--seq", "16",
                           "--sample", "40")
        if rc != 0:
            fail("char_rnn on the default corpus exited %d: %s" % (rc, err.strip()))
        else:
            result("char_rnn", out, CHAR_KEYS)
            print("char_rnn default corpus, 3 steps:", out.decode().strip().splitlines()[-1])
    else:
        T.skip("char_rnn on the default corpus (Debian package fortunes not installed)")


def test_treenn(tmp):
    dot = os.path.join(tmp, "tree.dot")
    rc, out, err = run("treenn", "--train", "800", "--test", "300", "--epochs", "4", "--dim", "24", "--dot", dot)
    if rc != 0:
        return fail("treenn exited %d: %s" % (rc, err.strip()))
    r = result("treenn", out, ("root_acc", "negated_root_acc", "bow_root_acc", "node_acc", "trees_per_s"))
    if r:
        if not r["negated_root_acc"] > r["bow_negated_root_acc"] + 0.2:
            fail("treenn: negated_root_acc %.3f is not clearly above the bag of words' %.3f"
                 % (r["negated_root_acc"], r["bow_negated_root_acc"]))
        print("treenn:", out.decode().strip().splitlines()[-1])
    text = out.decode()
    if text.count("root vector [") != 2:
        fail("treenn: the ambiguity demonstration should print two root vectors")
    try:
        with open(dot) as f:
            d = f.read()
        if not d.startswith("digraph") or "tree.W" not in d:
            fail("treenn --dot: %s is not a DOT graph of the tree" % dot)
    except OSError as e:
        fail("treenn --dot: %s" % e)
    for args, needle in [(["--dim", "0"], "dim"), (["--dot", "/nonexistent-dir/t.dot"], "/nonexistent-dir"),
                         (["--epochs", "x"], "epochs")]:
        rc, out, err = run("treenn", *args, timeout=60)
        if rc != 2 or needle not in err:
            fail("treenn %s: exit %d, stderr %r (want 2 and %r)" % (" ".join(args), rc, err.strip(), needle))


def main():
    if not os.path.isdir(EXAMPLES):
        print("FAIL: no examples directory at %s (set TG_BUILDDIR)" % EXAMPLES)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        return T.run_all((functools.partial(test_char_rnn, tmp), functools.partial(test_treenn, tmp)))


if __name__ == "__main__":
    sys.exit(main())
