#!/usr/bin/python3
"""compare.py: tapegrad against PyTorch, side by side in one run (issue 7).

Starts the two sides as servers (build/test/bench/bench --serve and
bench_torch.py --serve, both with --threads N) and, for each workload, runs
one warm-up repeat of each, then alternates timed repeats: tapegrad rep 1,
torch rep 1, tapegrad rep 2, ... (default 5 each). Each side times its own
repeat. It prints one line per measurement,

  bench <name> tapegrad=<x> torch=<y> unit=<u> ratio=<r>

with the medians over the repeats and r = x/y, or y/x for ns/op, so that a
higher ratio is always better for tapegrad. For gemm_* the torch= column is
numpy's sgemm (the BLAS numpy loads, OpenBLAS after `make bench`) and for
exp/tanh it is scalar libm (expf/tanhf in a plain loop on the same threads),
the references the issue names; torch.mm, torch.exp and the fraction of the
machine's peak FLOP/s and of the measured copy bandwidth follow as "#" lines.
Lines starting with "#" are comments; test/bench/chart.py draws the ratios.

  /usr/bin/python3 test/bench/compare.py [--build build] [--threads 2] [--reps 5]
      [--quick] [--only mlp,gemm] [--data DIR] [--save FILE]

Speed is never a test: nothing here runs under meson test.
"""
import argparse
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ORDER = ["overhead", "treenn", "lstm", "mlp", "lenet5", "cnn", "gemm", "eltwise"]
GEMM_KEYS = ["gemm_1024", "gemm_fc1_fwd", "gemm_fc1_dw", "gemm_fc2_fwd", "gemm_fc2_dw", "gemm_fc2_dx", "gemm_mlp"]

# workload -> lines: (name, unit, (side, key) of tapegrad, (side, key) of the reference, higher is better)
LINES = {
    "overhead": [("overhead", "ns/op", ("tg", "overhead"), ("torch", "overhead"), False)],
    "treenn": [("treenn", "trees/s", ("tg", "treenn"), ("torch", "treenn"), True)],
    "lstm": [("lstm", "tokens/s", ("tg", "lstm"), ("torch", "lstm"), True)],
    "mlp": [("mlp", "samples/s", ("tg", "mlp"), ("torch", "mlp"), True)],
    "lenet5": [("lenet5", "samples/s", ("tg", "lenet5"), ("torch", "lenet5"), True)],
    "cnn": [("cnn", "samples/s", ("tg", "cnn"), ("torch", "cnn"), True)],
    "gemm": [(k, "GFLOP/s", ("tg", k), ("torch", k), True) for k in GEMM_KEYS],
    "eltwise": [("exp", "GB/s", ("tg", "exp"), ("tg", "exp_libm"), True),
                ("tanh", "GB/s", ("tg", "tanh"), ("tg", "tanh_libm"), True)],
}
# The goals (ratio >= goal), for the summary and the chart.
GOALS = {"mlp": 1.25, "cnn": 1.0, "lenet5": 2.0, "lstm": 2.0, "treenn": 10.0, "overhead": 20.0,
         "gemm_1024": 0.9, "gemm_fc1_fwd": 1.0, "gemm_fc1_dw": 1.0, "gemm_fc2_fwd": 1.0, "gemm_fc2_dw": 1.0,
         "gemm_fc2_dx": 1.0, "gemm_mlp": 1.0, "exp": 5.0, "tanh": 5.0}


class Side:
    """One benchmark process speaking the serve protocol."""

    def __init__(self, name, argv, env=None):
        self.name, self.argv, self.env = name, argv, env
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                     env=self.env, cwd=ROOT)
        self.info = {}
        for line in self._lines("ready"):
            parts = line.split(None, 2)
            if parts[0] == "info" and len(parts) == 3:
                self.info[parts[1]] = parts[2]

    def _lines(self, until):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                try:
                    rc = self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    rc = None
                how = "killed by signal %d" % -rc if rc is not None and rc < 0 else "exit status %s" % rc
                raise RuntimeError("%s: the process ended (%s)" % (self.name, how))
            line = line.rstrip("\n")
            if line == until:
                return
            yield line

    def run(self, workload):
        """One repeat: ({key: value}, [error messages])."""
        self.proc.stdin.write("run %s\n" % workload)
        self.proc.stdin.flush()
        vals, errs = {}, []
        for line in self._lines("end"):
            parts = line.split()
            if parts[0] == "val" and len(parts) >= 3:
                vals[parts[1]] = float(parts[2])
            elif parts[0] == "error":
                errs.append(line[6:])
        return vals, errs

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def lscpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def fmt(v):
    return "%.4g" % v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="meson build directory (default build)")
    ap.add_argument("--threads", type=int, default=2, help="threads on both sides (default 2)")
    ap.add_argument("--reps", type=int, default=5, help="timed repeats per side (default 5, at least 5 for the issue)")
    ap.add_argument("--quick", action="store_true", help="short smoke run: fewer batches and iterations")
    ap.add_argument("--only", default="", help="comma-separated workloads: " + ",".join(ORDER))
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="MNIST-layout directory")
    ap.add_argument("--save", help="also write the output to this file")
    args = ap.parse_args()
    workloads = [w for w in args.only.split(",") if w] or ORDER
    for w in workloads:
        if w not in LINES:
            ap.error("unknown workload '%s' (known: %s)" % (w, ", ".join(ORDER)))
    if args.threads < 1 or args.reps < 1:
        ap.error("--threads and --reps must be >= 1")
    bench = os.path.join(args.build, "test", "bench", "bench")
    if not os.access(bench, os.X_OK):
        ap.error("%s not found: build first (ninja -C %s)" % (bench, args.build))

    saved = open(args.save, "w") if args.save else None

    def emit(line):
        print(line, flush=True)
        if saved:
            saved.write(line + "\n")
            saved.flush()

    common = ["--serve", "--threads", str(args.threads), "--data", args.data] + (["--quick"] if args.quick else [])
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    env.pop("TG_THREADS", None)
    # libgomp spins in its barriers by default; on a machine with more runnable
    # threads than cores (a shared CI box) that costs torch several times over.
    # tapegrad's pool waits on a condition variable, so passive is the like
    # for like setting. An OMP_WAIT_POLICY in the environment wins.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    tg = Side("tapegrad", [bench] + common, env)
    th = Side("torch", ["/usr/bin/python3", os.path.join(HERE, "bench_torch.py")] + common, env)
    sides = {"tg": tg, "torch": th}
    ti, pi = tg.info, th.info
    emit("# tapegrad benchmark, %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    emit("# machine: %s, %s cores, %s MHz, kernel %s; tapegrad built for %s" % (
        lscpu_model(), ti.get("cores", "?"), ti.get("mhz", "?"), platform.release(), ti.get("isa", "?")))
    emit("# peak FP32: %s" % ti.get("peak_formula", "?"))
    emit("# FMA lanes: %s" % ti.get("fma_lanes", "?"))
    emit("# torch %s (%s threads), numpy %s, BLAS %s" % (pi.get("torch", "?"), pi.get("torch_threads", "?"),
                                                        pi.get("numpy", "?"), pi.get("blas", "?")))
    emit("# OMP_WAIT_POLICY=%s for torch; OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=%d" % (env["OMP_WAIT_POLICY"],
                                                                                   args.threads))
    emit("# command: %s" % " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]))
    emit("# threads %d, %d timed repeats per side after one warm-up, interleaved; medians%s" % (
        args.threads, args.reps, "; QUICK run (fewer batches)" if args.quick else ""))

    results = {}  # line name -> (tg median, ref median, ratio)
    failed = 0
    try:
        for w in workloads:
            runs = {"tg": [], "torch": []}
            errors = []
            for rep in range(args.reps + 1):  # rep 0 is the warm-up
                for s in ("tg", "torch"):
                    try:
                        vals, errs = sides[s].run(w)
                    except RuntimeError as e:  # a crash: say so, restart that side, go on
                        vals, errs = {}, ["%s in %s, repeat %d; restarted" % (str(e).split(": ", 1)[-1], w, rep)]
                        sides[s].start()
                    errors += ["%s: %s" % (sides[s].name, e) for e in errs]
                    if rep > 0:
                        runs[s].append(vals)
            for e in sorted(set(errors)):
                emit("# error %s" % e)

            def med(side, key):
                vs = [r[key] for r in runs[side] if key in r]
                return (statistics.median(vs), min(vs), max(vs)) if vs else None

            for name, unit, (ts, tk), (rs, rk), higher in LINES[w]:
                a, b = med(ts, tk), med(rs, rk)
                if not a or not b or a[0] <= 0 or b[0] <= 0:
                    emit("# %s: no result" % name)
                    failed += 1
                    continue
                ratio = a[0] / b[0] if higher else b[0] / a[0]
                results[name] = (a[0], b[0], ratio)
                emit("bench %s tapegrad=%s torch=%s unit=%s ratio=%.3g" % (name, fmt(a[0]), fmt(b[0]), unit, ratio))
                emit("#   %s spread over repeats: tapegrad %s..%s, %s %s..%s" % (
                    name, fmt(a[1]), fmt(a[2]), "libm" if rs == "tg" else "numpy" if w == "gemm" else "torch",
                    fmt(b[1]), fmt(b[2])))
            if w == "gemm":
                peak = float(ti.get("peak_gflops", "0") or 0)
                for k in GEMM_KEYS:
                    a, b, c = med("tg", k), med("torch", k), med("torch", "torch_" + k)
                    if a and b and c and peak > 0:
                        emit("#   %s: tapegrad %.0f%% of peak %.1f GFLOP/s, numpy sgemm %.0f%%, torch.mm %s GFLOP/s "
                             "(%.0f%%)" % (k, 100 * a[0] / peak, peak, 100 * b[0] / peak, fmt(c[0]),
                                           100 * c[0] / peak))
            if w == "eltwise":
                cp, big, one = med("tg", "copy"), med("tg", "copy_dram"), med("tg", "exp_sleef_1t")
                tcp = med("torch", "copy")
                for k in ("exp", "tanh"):
                    a, t = med("tg", k), med("torch", k)
                    if a and cp and big and t:
                        emit("#   %s: tapegrad %s GB/s = %.0f%% of a copy of the same 1M floats (%s GB/s; 32M-float "
                             "copy %s GB/s); torch.%s %s GB/s (tapegrad/torch %.3g)" % (
                                 k, fmt(a[0]), 100 * a[0] / cp[0], fmt(cp[0]), fmt(big[0]), k, fmt(t[0]),
                                 a[0] / t[0]))
                if one and tcp:
                    emit("#   SLEEF exp map on one core, no pool: %s GB/s; torch copy_ of 1M floats %s GB/s" % (
                        fmt(one[0]), fmt(tcp[0])))
    finally:
        tg.close()
        th.close()

    if results:
        met = [n for n, (_, _, r) in results.items() if n in GOALS and r >= GOALS[n]]
        missed = ["%s %.3g<%g" % (n, r, GOALS[n]) for n, (_, _, r) in results.items() if n in GOALS and r < GOALS[n]]
        emit("# goals met: %s" % (", ".join(met) or "none"))
        emit("# goals missed: %s" % (", ".join(missed) or "none"))
    if saved:
        saved.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
