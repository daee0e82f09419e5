#!/usr/bin/env python3
"""Writes the IDX seed corpus (test/fuzz/corpus/idx) and the hand-made
checkpoint seeds (test/fuzz/corpus/checkpoint/hand_*). The checkpoints that
tg_checkpoint_save writes come from the harness itself:

    TG_FUZZ_WRITE_SEEDS=test/fuzz/corpus/checkpoint build-fuzz/fuzz_checkpoint -runs=1

(test/fuzz/run.sh --seeds does both). Deterministic; standard library only.
"""
import gzip
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
IDX = os.path.join(HERE, "corpus", "idx")
CK = os.path.join(HERE, "corpus", "checkpoint")


def idx(dims, data=None, code=8):
    n = 1
    for d in dims:
        n *= d
    if data is None:
        data = bytes((i * 37 + 11) % 256 for i in range(n))
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def gz(b):
    return gzip.compress(b, compresslevel=9, mtime=0)


def write(d, name, b):
    with open(os.path.join(d, name), "wb") as f:
        f.write(b)


def idx_seeds():
    labels = idx([6], bytes([0, 1, 2, 9, 3, 7]))
    images = idx([2, 3, 4])
    seeds = {
        "labels_raw": labels,
        "labels_gz": gz(labels),
        "images_raw": images,
        "images_gz": gz(images),
        "rank2_raw": idx([3, 5]),
        "rank4_gz": gz(idx([2, 1, 2, 3])),
        "empty_dims_rank0": bytes([0, 0, 8, 0]),
        "truncated_raw": images[:-5],
        "trailing_raw": images + b"\x00\x01",
        "truncated_gz": gz(images)[:-9],
        "trailing_gz": gz(images + b"xyz"),
        "type_float": idx([2, 2], bytes(16), code=0x0D),
        "zero_dim": idx([0, 3], b""),
        "huge_dim": bytes([0, 0, 8, 3]) + struct.pack(">III", 0xFFFFFFFF, 28, 28),
        "header_only": bytes([0, 0, 8, 1]),
        "two_gz_members": gz(labels[:6]) + gz(labels[6:]),
        "bad_magic": b"\x1f\x8b" + images[2:],
    }
    for k, v in seeds.items():
        write(IDX, k, v)


def checkpoint(header, data=b""):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def ck_seeds():
    # One f32 tensor with a valid crc32; the context's other parameters are
    # missing, so it is rejected after the whole header has been checked.
    w = struct.pack("<12f", *[0.5 * i for i in range(12)])
    crc = "%08x" % zlib.crc32(w)
    meta = {"format": "tapegrad", "crc32.fc1.W": crc}
    write(CK, "hand_one_tensor", checkpoint(
        {"__metadata__": meta, "fc1.W": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}}, w))
    write(CK, "hand_empty_object", checkpoint({}))
    write(CK, "hand_overlap", checkpoint(
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)))
    write(CK, "hand_bf16", checkpoint({"x": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, bytes(2)))
    write(CK, "hand_escapes", checkpoint(
        {"__metadata__": {"k\u00e9y\n": "v\\\"\u2603"}, "fc1.b": {"dtype": "F64", "shape": [],
                                                            "data_offsets": [0, 8]}}, bytes(8)))
    write(CK, "hand_len_only", struct.pack("<Q", 2))


if __name__ == "__main__":
    os.makedirs(IDX, exist_ok=True)
    os.makedirs(CK, exist_ok=True)
    idx_seeds()
    ck_seeds()
