"""Helpers shared by the Python test scripts (standard library only).

- run_example(prog, *args): run $TG_BUILDDIR/examples/<prog> as a user would
  (TG_PROGRESS=0), returning (exit status, stdout, stderr);
- result_line(out): the fields of the last stdout line "result: k=v ...", or
  None when the last line is not one;
- Tally: failures and skips of one script; tally.result(prog, *args) runs
  a program and returns its result fields, recording a failure when it
  exits non-zero or prints no (matching) result line; tally.exit_code() is 1 on any
  failure, 77 (meson's skip) when part of the work was skipped, else 0, so a
  script that skipped part of its checks never reports a plain pass;
  tally.run_all(tests) runs each test function, records an exception
  (a timeout, a missing program, a crash) as that test's failure instead of
  a traceback exit, and returns exit_code();
- needs_data(tally, what): a decorator for a test that needs Fashion-MNIST
  (skipped without it) and a temporary directory;
- sanitized(build): True for a -Db_sanitize build.
"""
import functools
import json
import os
import re
import subprocess
import tempfile

BUILD = os.environ.get("TG_BUILDDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
EXAMPLES = os.path.join(BUILD, "examples")
DATA = os.environ.get("TG_DATA", "/usr/share/datasets/fashion-mnist")


def have_data(path=DATA):
    """True when Fashion-MNIST (or an MNIST-layout set) is at path."""
    return any(os.path.exists(os.path.join(path, "train-images-idx3-ubyte" + ext)) for ext in ("", ".gz"))


def run_example(prog, *args, timeout=600, text=True, echo=False):
    """Runs examples/<prog> with args (str() of each); returns (rc, stdout, stderr).

    With text=False stdout comes back as bytes (stderr is always text)."""
    cmd = [prog if os.path.isabs(prog) else os.path.join(EXAMPLES, prog)] + [str(a) for a in args]
    if echo:
        print("$ " + " ".join([os.path.basename(prog)] + [str(a) for a in args]), flush=True)
    env = dict(os.environ, TG_PROGRESS="0")
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    out = p.stdout.decode("utf-8", "replace") if text else p.stdout
    return p.returncode, out, p.stderr.decode("utf-8", "replace")


def result_line(out):
    """Fields of the last stdout line "result: k=v k=v ..." as strings, or None."""
    if isinstance(out, bytes):
        out = out.decode("utf-8", "replace")
    lines = out.strip().splitlines()
    if not lines or not lines[-1].startswith("result: "):
        return None
    return dict(item.partition("=")[::2] for item in lines[-1][len("result: "):].split())


class Tally:
    """Failures and skips of one test script."""

    def __init__(self):
        self.failures = []
        self.skips = []

    def fail(self, msg):
        print("FAIL:", msg, flush=True)
        self.failures.append(msg)

    def skip(self, msg):
        print("SKIP:", msg, flush=True)
        self.skips.append(msg)

    def result(self, prog, *args, pattern=None, timeout=600):
        """Runs prog with args; returns (fields, stdout). fields is None, and a
        failure is recorded, when it exits non-zero or its last line is not a
        result line (matching the regular expression pattern, if given)."""
        rc, out, err = run_example(prog, *args, timeout=timeout)
        what = " ".join([prog] + [str(a) for a in args])
        lines = out.strip().splitlines()
        last = lines[-1] if lines else ""
        fields = result_line(out)
        if rc != 0:
            self.fail("%s: exit %d: %s" % (what, rc, err.strip()[-500:]))
        elif fields is None or (pattern and not re.match(pattern, last)):
            self.fail("%s: last line %r is not a result line%s" % (what, last, " matching %r" % pattern if pattern
                                                                   else ""))
        else:
            print("%s\n  %s" % (what, last), flush=True)
            return fields, out
        return None, out

    def run_all(self, tests):
        """Runs each test, a function of no arguments (functools.partial for
        one with arguments); an exception becomes a failure naming the test.
        Returns exit_code()."""
        for t in tests:
            try:
                t()
            except Exception as e:  # a crash is a failure, not a traceback exit
                self.fail("%s raised %r" % (getattr(t, "func", t).__name__, e))
        return self.exit_code()

    def exit_code(self):
        print("%d failure(s), %d part(s) skipped" % (len(self.failures), len(self.skips)))
        if self.failures:
            return 1
        return 77 if self.skips else 0


def needs_data(tally, what):
    """Decorator: the test runs as fn(tmp) in a fresh temporary directory when
    Fashion-MNIST is installed, and is recorded as skipped (tally.skip) when not."""
    def wrap(fn):
        @functools.wraps(fn)
        def run():
            if not have_data():
                return tally.skip("%s (no data set at %s)" % (what, DATA))
            with tempfile.TemporaryDirectory() as tmp:
                return fn(tmp)
        return run
    return wrap


def sanitized(build):
    """True when the meson build directory `build` has -Db_sanitize set."""
    try:
        p = subprocess.run(["meson", "introspect", "--buildoptions", build], capture_output=True, text=True)
        opts = json.loads(p.stdout)
    except (OSError, ValueError):
        return False
    return any(o.get("name") == "b_sanitize" and o.get("value") not in ("none", "", None) for o in opts)
