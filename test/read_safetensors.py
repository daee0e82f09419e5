#!/usr/bin/python3
"""Independent reader of a safetensors file, for test/test_checkpoint.c.

Uses only the standard library (json, struct, zlib; no tapegrad code, no
safetensors package, no NumPy, so the test never has to skip it). Prints one line per tensor, sorted by name:

    V <name> <dtype> <shape, comma separated or -> <value> <value> ...

with each value as repr(float(x)), which round-trips exactly. Checks the
layout rules of the format and the "crc32.<name>" checksums of tapegrad's
__metadata__, and exits 1 with a message on stderr if anything is wrong.
"""
import json
import struct
import sys
import zlib

DTYPES = {"F32": ("f", 4), "F64": ("d", 8)}  # struct code, bytes per element


def fail(msg):
    print("read_safetensors: " + msg, file=sys.stderr)
    sys.exit(1)


def main(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        fail("header length past the end")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    if meta.get("format") != "tapegrad":
        fail("__metadata__ format is %r" % meta.get("format"))
    spans = []
    for name in sorted(header):
        e = header[name]
        code, size = DTYPES[e["dtype"]]
        shape = tuple(e["shape"])
        b, end = e["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        if end - b != count * size:
            fail("%s: offsets do not match the shape" % name)
        raw = data[b:end]
        crc = "%08x" % (zlib.crc32(raw) & 0xFFFFFFFF)
        if meta.get("crc32." + name) != crc:
            fail("%s: crc32 %s, metadata says %s" % (name, crc, meta.get("crc32." + name)))
        spans.append((b, end))
        vals = " ".join(repr(float(x)) for x in struct.unpack("<%d%s" % (count, code), raw))
        shp = ",".join(str(d) for d in shape) or "-"
        print(("V %s %s %s %s" % (name, e["dtype"], shp, vals)).rstrip())
    pos = 0
    for b, end in sorted(spans):
        if b != pos:
            fail("tensors do not tile the data section at byte %d" % b)
        pos = end
    if pos != len(data):
        fail("%d bytes after the last tensor" % (len(data) - pos))
    for k in ("optim.kind", "optim.steps"):
        if k in meta:
            print("M %s %s" % (k, meta[k]))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: read_safetensors.py FILE")
    main(sys.argv[1])
