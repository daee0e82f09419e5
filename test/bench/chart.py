#!/usr/bin/env python3
"""chart.py: an SVG bar chart of the ratios in compare.py's output.

  python3 test/bench/chart.py RUN.txt [RUN2.txt ...] -o docs/img/bench_ratios.svg [--markdown]

Reads the "bench <name> ... ratio=<r>" lines of one or more saved runs
(compare.py --save, or `make bench`'s build/bench.txt), takes the median
ratio of each workload over the runs, and draws one horizontal bar per
workload on a log scale, starting at parity (ratio 1): right of the line
tapegrad is faster. A bar is green when it reaches the issue's goal (the tick
on its row), red when it does not. --markdown also prints the Markdown table
of docs/benchmarks.md (medians over the runs, and each run's ratio).
Standard library only.
"""
import argparse
import math
import re
import statistics
import sys
from xml.sax.saxutils import escape

# The goals (compare.py's GOALS), and the order of the rows.
GOALS = {"mlp": 1.25, "cnn": 1.0, "lenet5": 2.0, "lstm": 2.0, "treenn": 10.0, "overhead": 20.0,
         "gemm_1024": 0.9, "gemm_fc1_fwd": 1.0, "gemm_fc1_dw": 1.0, "gemm_fc2_fwd": 1.0, "gemm_fc2_dw": 1.0,
         "gemm_fc2_dx": 1.0, "gemm_mlp": 1.0, "exp": 5.0, "tanh": 5.0}
LINE = re.compile(r"^bench (\S+) tapegrad=(\S+) torch=(\S+) unit=(\S+) ratio=(\S+)$")


def parse(paths):
    ratios, units, title, values = {}, {}, None, {}
    for p in paths:
        with open(p) as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("# tapegrad benchmark, "):
                    stamp = line[len("# tapegrad benchmark, "):]
                    title = stamp if title is None else title.split(" to ")[0] + " to " + stamp
                m = LINE.match(line)
                if m:
                    name, a, b, unit, r = m.groups()
                    ratios.setdefault(name, []).append(float(r))
                    values.setdefault(name, []).append((float(a), float(b)))
                    units[name] = unit
    return ratios, values, units, title


def markdown(ratios, values, units):
    rows = ["| workload | unit | tapegrad | torch / reference | ratio (median) | ratio per run | goal | met |",
            "|---|---|---:|---:|---:|---|---:|---|"]
    for n in [n for n in GOALS if n in ratios] + sorted(n for n in ratios if n not in GOALS):
        r = statistics.median(ratios[n])
        a = statistics.median(v[0] for v in values[n])
        b = statistics.median(v[1] for v in values[n])
        goal = GOALS.get(n)
        rows.append("| `%s` | %s | %.4g | %.4g | **%.3g** | %s | %s | %s |" % (
            n, units[n], a, b, r, ", ".join("%.3g" % x for x in ratios[n]), "≥ %g" % goal if goal else "",
            "" if goal is None else "yes" if r >= goal else "**no**"))
    return "\n".join(rows)


def svg(ratios, units, title, n_runs):
    names = [n for n in GOALS if n in ratios] + sorted(n for n in ratios if n not in GOALS)
    row, top, left, width = 26, 58, 150, 560
    height = top + row * len(names) + 62
    lo = min([0.1] + [r / 1.5 for r in ratios.values()] + [g / 1.5 for g in GOALS.values()])
    hi = max([200.0] + [r * 1.5 for r in ratios.values()])
    llo, lhi = math.log10(lo), math.log10(hi)

    def x(v):
        return left + width * (math.log10(v) - llo) / (lhi - llo)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'
           % (left + width + 90, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14" font-weight="bold">tapegrad / PyTorch (higher is better; log scale)'
           '</text>' % left]
    sub = "median of %d run%s, %s" % (n_runs, "" if n_runs == 1 else "s", title or "")
    out.append('<text x="%d" y="38" fill="#555">%s</text>' % (left, escape(sub)))
    dec = 10 ** math.floor(llo)
    while dec <= hi:  # grid at 1, 2, 5 per decade
        for m in (1, 2, 5):
            v = dec * m
            if lo <= v <= hi:
                gx = x(v)
                out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>' % (
                    gx, top - 6, gx, top + row * len(names), "#888" if v == 1 else "#e4e4e4"))
                out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%g</text>' % (
                    gx, top + row * len(names) + 16, v))
        dec *= 10
    for i, n in enumerate(names):
        y0, r = top + row * i, ratios[n]
        goal = GOALS.get(n)
        ok = goal is None or r >= goal
        x0, x1 = sorted((x(1.0), x(r)))
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y0 + 17, escape(n)))
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
            x0, y0 + 5, max(x1 - x0, 1.0), row - 10, "#2e7d32" if ok else "#c62828"))
        label = "%.3g" % r + (" (%s)" % units[n] if units.get(n) == "ns/op" else "")
        lx = max(x(r), x(1.0), x(goal) if goal else 0) + 5  # right of the bar and of the goal tick
        out.append('<text x="%.1f" y="%d" fill="#222">%s</text>' % (lx, y0 + 17, escape(label)))
        if goal:
            gx = x(goal)
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#111" stroke-width="2"/>' % (
                gx, y0 + 2, gx, y0 + row - 2))
    out.append('<text x="%d" y="%d" fill="#555">green: goal met, red: missed; black tick: the issue\'s goal</text>'
               % (left, height - 24))
    out.append('<text x="%d" y="%d" fill="#555">overhead is torch/tapegrad time; gemm_* against numpy sgemm, '
               'exp/tanh against scalar libm</text>' % (left, height - 8))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="saved outputs of compare.py")
    ap.add_argument("-o", "--output", required=True, help="SVG file to write")
    ap.add_argument("--markdown", action="store_true", help="print the results as a Markdown table")
    args = ap.parse_args()
    ratios, values, units, title = parse(args.runs)
    if not ratios:
        sys.exit("chart.py: no 'bench' lines in %s" % ", ".join(args.runs))
    medians = {k: statistics.median(v) for k, v in ratios.items()}
    with open(args.output, "w") as f:
        f.write(svg(medians, units, title, len(args.runs)))
    if args.markdown:
        print(markdown(ratios, values, units))
    return 0


if __name__ == "__main__":
    sys.exit(main())
