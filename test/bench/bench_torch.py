#!/usr/bin/python3
"""bench_torch.py: PyTorch's (and numpy's) side of the speed comparison.

The same workloads as test/bench/bench_models.c and bench_kernels.c, written
the way a PyTorch user writes them (nn.Linear, nn.Conv2d, nn.LSTMCell in a
Python loop, torch.optim), with the same shapes, batch sizes, optimizers and
data. Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).

  bench_torch.py --serve [--threads N] [--quick] [--data DIR]
      the protocol of compare.py (see bench.c): "info ..." lines, "ready";
      "run <workload>" -> "val <key> <value> <unit>" lines and "end".
  bench_torch.py [--threads N] [--quick] [--reps N] [WORKLOAD...]
      alone: one warm-up and N repeats of each workload, medians.

Threads: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are set
to N before numpy and torch load, and torch.set_num_threads(N);
OMP_WAIT_POLICY defaults to PASSIVE (see compare.py).
gemm times numpy's sgemm (np.matmul with out=, transposed operands as views,
so BLAS gets the transpose flags) under the keys bench.c uses, and torch.mm
under "torch_<key>". eltwise times torch.exp/tanh and Tensor.copy_.
"""
import argparse
import gzip
import os
import statistics
import sys
import time

WORKLOADS = ["overhead", "treenn", "lstm", "mlp", "lenet5", "cnn", "gemm", "eltwise"]
np = torch = nn = F = None  # imported in main() once the thread variables are set

C3_TABLE = [
    [1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1], [1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1],
    [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1], [0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1],
    [0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1], [0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1],
]

MASK64 = (1 << 64) - 1


def lcg(state):
    """bench_models.c's lcg_next: returns (new state, draw)."""
    state = (state * 6364136223846793005 + 1442695040888963407) & MASK64
    return state, state >> 33


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(dirname, name):
    for cand in (name, name + ".gz"):
        p = os.path.join(dirname, cand)
        if os.path.exists(p):
            return p
    return None


class Env:
    def __init__(self, args):
        self.quick = args.quick
        self.data_dir = args.data
        self._data = None
        self.state = {}

    def data(self):
        """(X (n, 784) float32 in [0,1], y (n,) int64): the training split or random data."""
        if self._data is None:
            pi = find(self.data_dir, "train-images-idx3-ubyte")
            pl = find(self.data_dir, "train-labels-idx1-ubyte")
            if pi and pl:
                imgs, labels = read_idx(pi), read_idx(pl)
            else:
                sys.stderr.write("bench_torch: no data in %s; using random data of the same shape\n" % self.data_dir)
                rng = np.random.default_rng(3)
                imgs = rng.integers(0, 256, size=(60000, 28, 28), dtype=np.uint8)
                labels = imgs[:, 14, 8] % 10
            X = torch.from_numpy(imgs.reshape(imgs.shape[0], -1).astype(np.float32) / 255.0)
            y = torch.from_numpy(labels.astype(np.int64))
            self._data = (X, y)
        return self._data


class Order:
    """A shuffled order of n samples and a cursor through it (bench_models.c's order)."""

    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.perm, self.n, self.cursor = torch.randperm(n, generator=g), n, 0

    def next(self, B):
        if self.cursor + B > self.n:
            self.cursor = 0
        idx = self.perm[self.cursor:self.cursor + B]
        self.cursor += B
        return idx


def finite(key, loss):
    v = float(loss)
    if v != v or v in (float("inf"), float("-inf")):
        raise RuntimeError("%s: the loss is not finite (%g)" % (key, v))


# ---- mlp ----

def run_mlp(env, out):
    X, y = env.data()
    st = env.state.get("mlp")
    if st is None:
        torch.manual_seed(42)
        model = nn.Sequential(nn.Linear(X.shape[1], 500), nn.ReLU(), nn.Linear(500, 10))
        st = env.state["mlp"] = (model, torch.optim.SGD(model.parameters(), lr=0.1), Order(X.shape[0], 42))
    model, opt, order = st
    B = 200
    steps = X.shape[0] // B
    if env.quick:
        steps = min(steps, 20)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = order.next(B)
        loss = F.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    finite("mlp", loss)
    out.append(("mlp", steps * B / dt, "samples/s"))


# ---- cnn ----

def make_cnn():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
            self.fc = nn.Linear(32 * 14 * 14, 128)
            self.out = nn.Linear(128, 10)

        def forward(self, x):
            h = F.relu(self.conv1(x))
            h = F.relu(self.conv2(h))
            h = F.dropout(F.max_pool2d(h, 2), 0.2, True)
            h = F.dropout(F.relu(self.fc(h.flatten(1))), 0.2, True)
            return self.out(h)

    return Net()


def image_steps(env, out, key, make, steps, pad):
    """An image classifier's timed steps (cnn, lenet5; bench_models.c's
    image_steps): Adam at 1e-3, batches of 64 in a fixed order, each image
    framed by pad zeros, mean cross-entropy; samples/s under key."""
    X, y = env.data()
    st = env.state.get(key)
    if st is None:
        torch.manual_seed(42)
        model = make()
        st = env.state[key] = (model, torch.optim.Adam(model.parameters(), lr=1e-3), Order(X.shape[0], 42))
    model, opt, order = st
    B = 64
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = order.next(B)
        x = X[idx].view(B, 1, 28, 28)
        if pad:
            x = F.pad(x, (pad, pad, pad, pad))
        loss = F.cross_entropy(model(x), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    finite(key, loss)
    out.append((key, steps * B / dt, "samples/s"))


def run_cnn(env, out):
    image_steps(env, out, "cnn", make_cnn, 3 if env.quick else 40, 0)


# ---- lenet5 ----

def make_lenet5():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 6, 5)
            self.s2c = nn.Parameter(torch.full((6, 1, 1), 0.25))
            self.s2b = nn.Parameter(torch.zeros(6, 1, 1))
            self.c3 = nn.Conv2d(6, 16, 5)
            # mask[o, c] = C3_TABLE[c][o]: output map o reads input map c
            self.register_buffer("mask", torch.tensor(C3_TABLE, dtype=torch.float32).t().reshape(16, 6, 1, 1)
                                 .expand(16, 6, 5, 5).contiguous())
            self.s4c = nn.Parameter(torch.full((16, 1, 1), 0.25))
            self.s4b = nn.Parameter(torch.zeros(16, 1, 1))
            self.c5 = nn.Conv2d(16, 120, 5)
            self.f6 = nn.Linear(120, 84)
            self.out = nn.Linear(84, 10)

        def forward(self, x):
            h = torch.tanh(self.c1(x))
            h = torch.tanh(F.avg_pool2d(h, 2) * (self.s2c * 4.0) + self.s2b)
            h = torch.tanh(F.conv2d(h, self.c3.weight * self.mask, self.c3.bias))
            h = torch.tanh(F.avg_pool2d(h, 2) * (self.s4c * 4.0) + self.s4b)
            h = torch.tanh(self.c5(h))
            h = torch.tanh(self.f6(h.flatten(1)))
            return self.out(h)

    return Net()


def run_lenet5(env, out):
    image_steps(env, out, "lenet5", make_lenet5, 5 if env.quick else 150, 2)


# ---- lstm ----

def run_lstm(env, out):
    H, T, B, V = 128, 64, 32, 96
    st = env.state.get("lstm")
    if st is None:
        torch.manual_seed(42)
        emb, cell, lin = nn.Embedding(V, H), nn.LSTMCell(H, H), nn.Linear(H, V)
        params = list(emb.parameters()) + list(cell.parameters()) + list(lin.parameters())
        s, text = 7, []
        for _ in range((T + 1) * B):
            s, r = lcg(s)
            text.append(r % V)
        text = torch.tensor(text, dtype=torch.int64)
        ids, tgt = text[:T * B].view(T, B), text[B:]
        st = env.state["lstm"] = (emb, cell, lin, torch.optim.Adam(params, lr=1e-3), ids, tgt)
    emb, cell, lin, opt, ids, tgt = st
    steps = 2 if env.quick else 12
    t0 = time.perf_counter()
    for _ in range(steps):
        h = torch.zeros(B, H)
        c = torch.zeros(B, H)
        ys = []
        for t in range(T):
            h, c = cell(emb(ids[t]), (h, c))
            ys.append(h)
        loss = F.cross_entropy(lin(torch.cat(ys, 0)), tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    finite("lstm", loss)
    out.append(("lstm", steps * T * B / dt, "tokens/s"))


# ---- treenn ----

LEAVES, NODES, D, TV, TC, TBATCH, TMAX = 16, 31, 64, 100, 5, 25, 500


def random_tree(s):
    """bench_models.c's tree_random: (state, (left, right, words, label))."""
    left, right, words = [-1] * NODES, [-1] * NODES, []
    for _ in range(LEAVES):
        s, r = lcg(s)
        words.append(r % TV)
    items = list(range(LEAVES))
    for k in range(LEAVES, NODES):
        s, r = lcg(s)
        i = r % (len(items) - 1)
        left[k], right[k] = items[i], items[i + 1]
        items[i:i + 2] = [k]
    s, r = lcg(s)
    return s, (left, right, words, r % TC)


def run_treenn(env, out):
    st = env.state.get("treenn")
    if st is None:
        torch.manual_seed(42)
        E = nn.Parameter(torch.empty(TV, D).uniform_(-0.1, 0.1))
        cell, cls = nn.Linear(2 * D, D), nn.Linear(D, TC)
        opt = torch.optim.SGD([E] + list(cell.parameters()) + list(cls.parameters()), lr=0.01)
        s, trees = 11, []
        for _ in range(TMAX):
            s, (left, right, words, label) = random_tree(s)
            # index tensors made once, outside the timed loop
            trees.append((left, right, [torch.tensor([w]) for w in words], torch.tensor([label])))
        st = env.state["treenn"] = (E, cell, cls, opt, trees)
    E, cell, cls, opt, trees = st
    n = 50 if env.quick else TMAX
    t0 = time.perf_counter()
    for i in range(n):
        left, right, words, label = trees[i]
        nodes = [F.embedding(w, E) for w in words] + [None] * (NODES - LEAVES)  # leaves (1, D)
        for k in range(LEAVES, NODES):
            nodes[k] = torch.tanh(cell(torch.cat((nodes[left[k]], nodes[right[k]]), 1)))
        loss = F.cross_entropy(cls(nodes[NODES - 1]), label)
        loss.backward()
        if (i + 1) % TBATCH == 0:
            opt.step()
            opt.zero_grad(set_to_none=True)
    dt = time.perf_counter() - t0
    finite("treenn", loss)
    out.append(("treenn", n / dt, "trees/s"))


# ---- per-op overhead ----

def run_overhead(env, out):
    st = env.state.get("overhead")
    if st is None:
        st = env.state["overhead"] = (torch.tensor([0.5], requires_grad=True),
                                      torch.tensor([0.1], requires_grad=True), torch.tensor([0.3]))
    a, b, x0 = st
    chains, chain = (20 if env.quick else 100), 500
    t0 = time.perf_counter()
    for _ in range(chains):
        x = x0
        for _ in range(chain):
            x = torch.tanh(a * x + b)
        x.backward()
    dt = time.perf_counter() - t0
    finite("overhead", x)
    out.append(("overhead", dt * 1e9 / (chains * chain * 3), "ns/op"))


# ---- gemm ----

SHAPES = [  # key, transA, transB, M, N, K, iterations (bench_kernels.c's SHAPES)
    ("gemm_1024", 0, 0, 1024, 1024, 1024, 10), ("gemm_fc1_fwd", 0, 0, 200, 500, 784, 60),
    ("gemm_fc1_dw", 1, 0, 784, 500, 200, 60), ("gemm_fc2_fwd", 0, 0, 200, 10, 500, 3000),
    ("gemm_fc2_dw", 1, 0, 500, 10, 200, 3000), ("gemm_fc2_dx", 0, 1, 200, 500, 10, 3000),
]
MLP_ITERS = 60


def run_gemm(env, out):
    st = env.state.get("gemm")
    if st is None:
        rng = np.random.default_rng(1)
        A, B, C = (rng.random(1 << 20, dtype=np.float32) - 0.5 for _ in range(3))
        ops = []
        for key, ta, tb, M, N, K, iters in SHAPES:
            a = A[:K * M].reshape(K, M).T if ta else A[:M * K].reshape(M, K)
            b = B[:N * K].reshape(N, K).T if tb else B[:K * N].reshape(K, N)
            c = C[:M * N].reshape(M, N)
            ops.append((key, a, b, c, torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c),
                        2.0 * M * N * K, iters))
        st = env.state["gemm"] = ops
    scale = (lambda n: (n + 9) // 10) if env.quick else (lambda n: n)
    for key, a, b, c, ta, tb, tc, flops, iters in st:
        iters = scale(iters)
        t0 = time.perf_counter()
        for _ in range(iters):
            np.matmul(a, b, out=c)
        out.append((key, flops * iters / (time.perf_counter() - t0) / 1e9, "GFLOP/s"))
        t0 = time.perf_counter()
        for _ in range(iters):
            torch.mm(ta, tb, out=tc)
        out.append(("torch_" + key, flops * iters / (time.perf_counter() - t0) / 1e9, "GFLOP/s"))
    mlp = st[1:]
    flops, iters = sum(o[7] for o in mlp), scale(MLP_ITERS)
    t0 = time.perf_counter()
    for _ in range(iters):
        for _, a, b, c, *_rest in mlp:
            np.matmul(a, b, out=c)
    out.append(("gemm_mlp", flops * iters / (time.perf_counter() - t0) / 1e9, "GFLOP/s"))
    t0 = time.perf_counter()
    for _ in range(iters):
        for o in mlp:
            torch.mm(o[4], o[5], out=o[6])
    out.append(("torch_gemm_mlp", flops * iters / (time.perf_counter() - t0) / 1e9, "GFLOP/s"))


# ---- elementwise ----

def run_eltwise(env, out):
    n = 1 << 20
    st = env.state.get("eltwise")
    if st is None:
        g = torch.Generator().manual_seed(6)
        u = torch.rand(n, generator=g)
        st = env.state["eltwise"] = (u * 20 - 10, u * 10 - 5, torch.empty(n))
    xe, xt, y = st
    q = env.quick

    def gbs(fn, iters):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        return 8.0 * n * iters / (time.perf_counter() - t0) / 1e9

    out.append(("exp", gbs(lambda: torch.exp(xe, out=y), 20 if q else 300), "GB/s"))
    out.append(("tanh", gbs(lambda: torch.tanh(xt, out=y), 20 if q else 300), "GB/s"))
    out.append(("copy", gbs(lambda: y.copy_(xe), 50 if q else 1000), "GB/s"))


RUN = {name: globals()["run_" + name] for name in WORKLOADS}


def run_one(env, name):
    """One repeat: (list of (key, value, unit), error message or None)."""
    out = []
    try:
        RUN[name](env, out)
        return out, None
    except Exception as e:  # report and go on: the driver prints it
        return out, "%s: %s: %s" % (name, type(e).__name__, e)


def info_lines(threads):
    blas = "unknown"
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        blas = ", ".join(sorted(os.path.realpath(p) for p in libs)) or "none loaded"
    except OSError:
        pass
    return ["info torch %s" % torch.__version__, "info numpy %s" % np.__version__,
            "info torch_threads %d" % torch.get_num_threads(), "info blas %s" % blas]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--serve", action="store_true", help="speak compare.py's protocol on stdin/stdout")
    ap.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--reps", type=int, default=5, help="repeats when run alone (default 5)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="MNIST-layout directory")
    ap.add_argument("workloads", nargs="*", help="workloads (default all): " + " ".join(WORKLOADS))
    args = ap.parse_args()
    for name in args.workloads:
        if name not in RUN:
            ap.error("unknown workload '%s'" % name)
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as compare.py (see there)
    global np, torch, nn, F
    import numpy as np  # noqa: E402 (after the thread variables)
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    env = Env(args)
    # BLAS loads lazily in some builds: touch it so "info blas" names it
    np.matmul(np.ones((4, 4), np.float32), np.ones((4, 4), np.float32))
    torch.mm(torch.ones(4, 4), torch.ones(4, 4))
    if args.serve:
        for line in info_lines(args.threads):
            print(line)
        print("ready", flush=True)
        for line in sys.stdin:
            req = line.strip()
            if req == "quit":
                break
            name = req[4:] if req.startswith("run ") else None
            if name not in RUN:
                print("error unknown request '%s'" % req)
            else:
                vals, err = run_one(env, name)
                for key, v, unit in vals:
                    print("val %s %.6g %s" % (key, v, unit))
                if err:
                    print("error %s" % err)
            print("end", flush=True)
        return 0
    for line in info_lines(args.threads):
        print(line)
    rc = 0
    for name in args.workloads or WORKLOADS:
        run_one(env, name)  # warm-up
        acc = {}
        for _ in range(args.reps):
            vals, err = run_one(env, name)
            if err:
                print("error %s" % err, file=sys.stderr)
                rc = 1
            for key, v, unit in vals:
                acc.setdefault((key, unit), []).append(v)
        for (key, unit), vs in acc.items():
            print("torch %s %.4g %s (n=%d, min %.4g, max %.4g)" % (key, statistics.median(vs), unit, len(vs),
                                                                 min(vs), max(vs)), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
