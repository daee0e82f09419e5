#!/usr/bin/python3
"""make_conv_ref.py: PyTorch (f64) reference values for test/test_conv.c.

Run with Debian's python3 (it has torch):
    /usr/bin/python3 test/ref/make_conv_ref.py > test/ref/conv_ref.txt

Inputs come from formulas of the flat element index i that test_conv.c
reproduces with the same libm calls:
    x[i]  = sin(0.1*i + 0.3)
    w[i]  = 0.5*cos(0.07*i + 0.1)
    b[i]  = 0.1*i - 0.2
    dy[i] = cos(0.05*i + 0.2)          (the upstream gradient)
For every case the file holds the forward output y and the gradients of
sum(y * dy) with respect to x, w and b, with 17 significant digits.

Format, one record per case:
    case <op> <name>
    x <rank> <dims...>
    w <rank> <dims...>        (conv only; "w 0" for pools)
    bias <0|1>
    attr <7 ints>             conv2d: sh sw ph pw dh dw groups
                              conv1d: stride pad dilation groups 0 0 0
                              pools:  kh kw sh sw ph pw 0
    <tensor> <count> <values...>   for y, dx, dw, db (dw/db only when present)
    end
"""
import math
import sys

import torch
import torch.nn.functional as F


def fill(shape, f):
    n = 1
    for d in shape:
        n *= d
    return torch.tensor([f(i) for i in range(n)], dtype=torch.float64).reshape(shape)


def fx(i):
    return math.sin(0.1 * i + 0.3)


def fw(i):
    return 0.5 * math.cos(0.07 * i + 0.1)


def fb(i):
    return 0.1 * i - 0.2


def fdy(i):
    return math.cos(0.05 * i + 0.2)


def emit(out, tag, t):
    vals = t.detach().reshape(-1).tolist()
    out.write("%s %d" % (tag, len(vals)))
    for k, v in enumerate(vals):
        out.write("\n" if k % 6 == 0 else " ")
        out.write("%.17g" % v)
    out.write("\n")


def case(out, op, name, xs, ws, bias, attr):
    x = fill(xs, fx).requires_grad_(True)
    w = fill(ws, fw).requires_grad_(True) if ws else None
    b = fill([ws[0]], fb).requires_grad_(True) if bias else None
    if op == "conv2d":
        sh, sw, ph, pw, dh, dw, g = attr
        y = F.conv2d(x, w, b, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=g)
    elif op == "conv1d":
        s, p, d, g = attr[:4]
        y = F.conv1d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
    elif op == "max_pool2d":
        kh, kw, sh, sw, ph, pw = attr[:6]
        y = F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw))
    elif op == "avg_pool2d":
        kh, kw, sh, sw, ph, pw = attr[:6]
        y = F.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), count_include_pad=True)
    else:
        raise ValueError(op)
    dy = fill(list(y.shape), fdy)
    (y * dy).sum().backward()
    out.write("case %s %s\n" % (op, name))
    out.write("x %d %s\n" % (len(xs), " ".join(map(str, xs))))
    out.write("w %d %s\n" % (len(ws), " ".join(map(str, ws))) if ws else "w 0\n")
    out.write("bias %d\n" % (1 if bias else 0))
    out.write("attr %s\n" % " ".join(map(str, list(attr) + [0] * (7 - len(attr)))))
    emit(out, "y", y)
    emit(out, "dx", x.grad)
    if w is not None:
        emit(out, "dw", w.grad)
    if b is not None:
        emit(out, "db", b.grad)
    out.write("end\n")


def main():
    out = sys.stdout
    out.write("# PyTorch %s f64 references for test/test_conv.c; made by test/ref/make_conv_ref.py\n"
              % torch.__version__)
    # conv2d: sh sw ph pw dh dw groups
    case(out, "conv2d", "stride2_pad1", [2, 3, 7, 6], [4, 3, 3, 3], True, (2, 2, 1, 1, 1, 1, 1))
    case(out, "conv2d", "dilation2", [1, 2, 9, 8], [3, 2, 3, 2], True, (1, 1, 1, 0, 2, 2, 1))
    case(out, "conv2d", "groups2", [2, 4, 5, 5], [6, 2, 3, 3], True, (1, 1, 1, 1, 1, 1, 2))
    case(out, "conv2d", "kernel1x1", [2, 3, 4, 5], [5, 3, 1, 1], False, (1, 1, 0, 0, 1, 1, 1))
    case(out, "conv2d", "nonsquare", [1, 2, 6, 9], [3, 2, 2, 4], True, (1, 2, 0, 1, 2, 1, 1))
    case(out, "conv2d", "wide_im2col", [3, 8, 6, 7], [8, 8, 3, 3], True, (1, 1, 1, 1, 1, 1, 1))
    case(out, "conv2d", "depthwise", [2, 4, 5, 6], [4, 1, 3, 3], True, (2, 1, 1, 2, 1, 2, 4))
    case(out, "conv2d", "wide_row", [2, 3, 5, 37], [5, 3, 3, 3], True, (1, 1, 1, 1, 1, 1, 1))
    case(out, "conv2d", "lenet_c3", [4, 8, 5, 5], [10, 8, 5, 5], True, (1, 1, 0, 0, 1, 1, 1))
    # conv1d: stride pad dilation groups
    case(out, "conv1d", "stride2_pad1", [2, 3, 10], [4, 3, 3], True, (2, 1, 1, 1))
    case(out, "conv1d", "dilation2", [1, 2, 11], [3, 2, 3], True, (1, 0, 2, 1))
    case(out, "conv1d", "groups2", [2, 4, 8], [6, 2, 3], True, (1, 1, 1, 2))
    case(out, "conv1d", "kernel1", [2, 3, 5], [2, 3, 1], False, (1, 0, 1, 1))
    case(out, "conv1d", "stride3_pad2", [3, 8, 13], [6, 8, 4], True, (3, 2, 1, 1))
    # pools: kh kw sh sw ph pw
    for op in ("max_pool2d", "avg_pool2d"):
        case(out, op, "k3_stride2_pad1", [2, 3, 7, 6], None, False, (3, 3, 2, 2, 1, 1))
        case(out, op, "k2_stride2", [1, 2, 6, 6], None, False, (2, 2, 2, 2, 0, 0))
        case(out, op, "kernel1x1", [2, 2, 3, 4], None, False, (1, 1, 1, 1, 0, 0))
        case(out, op, "nonsquare", [1, 2, 7, 5], None, False, (3, 2, 2, 1, 1, 1))
        case(out, op, "overlap", [2, 1, 5, 5], None, False, (3, 3, 1, 1, 1, 1))


if __name__ == "__main__":
    main()
