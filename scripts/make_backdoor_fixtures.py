#!/usr/bin/python3
"""Held-out backdoors for issue 15: models and poisoned data no part of Aegis built.

Run with Debian's Python (torch, onnx, numpy), not the python3 on PATH:
    /usr/bin/python3 scripts/make_backdoor_fixtures.py [--out fixtures/backdoor]

PyTorch trains four small CNNs on Aegis's built-in `mnist` training split (aegis_mnist.py:
the same 8,000 digits Aegis sees), each poisoned here with code written from Gu et al. 2017
(BadNets) and Chen et al. 2017 (blended triggers), not with src/attacks/poisoning, and with
triggers, targets and an architecture Aegis's defaults do not use:

- torch_checker: a 3x3 checkerboard in the TOP-LEFT corner (Aegis's default pattern sits
  bottom-right), all-to-one to class 7, 10% of the non-7 rows relabelled.
- torch_blend: Gaussian noise (numpy seed 2019, clipped to [0, 1]) blended over the whole
  image at alpha 0.15, all-to-one to class 3, 10%.
- torch_alltoall: a solid 2x3 bar at the top-right, all-to-all (y -> (y + 1) mod 10), 10%.
- torch_clean: the same network and schedule on the clean digits.

The network (5x5 convolutions with padding, 8 and 16 channels, two max-pools, a 32-unit
dense layer) is unlike Aegis's `cnn` architecture. Each model is exported to ONNX (logits
out) with a manifest in Aegis's "aegis-poison" format (trigger as an explicit per-pixel
mask and pattern, goal, poisoned rows) beside it; the poisoned rows are those of the full
8,000-row training set. torch_checker_slice.npz (x float32 [N, 1, 28, 28], y int64, the
labels as trained) is the first SLICE rows of torch_checker's poisoned training set, with
its own manifest torch_checker_slice.json, for the data inspections. summary.json records
PyTorch's own clean accuracy and attack success rate on Aegis's 2,000 test digits, which the
tests check Aegis reproduces from the ONNX files.

Deterministic: fixed seeds, deterministic algorithms, one thread.
"""
import argparse
import datetime
import json
import os

import numpy as np
import torch
from torch import nn

from aegis_mnist import aegis_mnist

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--out", default=os.path.join(ROOT, "fixtures", "backdoor"))
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--slice", type=int, default=1000, help="rows of torch_checker's poisoned set saved for inspect-data")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
FRACTION = 0.1
H = W = 28


def checkerboard_top_left():
    mask = np.zeros((H, W), np.float32)
    pattern = np.zeros((H, W), np.float32)
    mask[1:4, 1:4] = 1
    for i in range(3):
        for j in range(3):
            pattern[1 + i, 1 + j] = 1.0 if (i + j) % 2 == 0 else 0.0
    return mask, pattern


def blended_noise(alpha=0.15, seed=2019):
    rng = np.random.default_rng(seed)
    pattern = np.clip(rng.normal(0.5, 0.25, (H, W)), 0, 1).astype(np.float32)
    return np.full((H, W), alpha, np.float32), pattern


def bar_top_right():
    mask = np.zeros((H, W), np.float32)
    mask[1:3, W - 4:W - 1] = 1
    return mask, mask.copy()


def stamp(x, mask, pattern):
    """x' = (1 - m) x + m p on every row of x [N, 1, H, W]."""
    return (1 - mask) * x + mask * pattern


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.features(x))


def poison(x, y, mask, pattern, target, mode, seed):
    """BadNets: stamp FRACTION of the rows (not of the target class, all-to-one) and relabel them."""
    rng = np.random.default_rng(seed)
    candidates = np.arange(len(y)) if mode == "all-to-all" else np.flatnonzero(y != target)
    rows = np.sort(rng.choice(candidates, int(round(FRACTION * len(y))), replace=False))
    x, y = x.copy(), y.copy()
    original = y[rows].copy()
    x[rows] = stamp(x[rows], mask, pattern)
    y[rows] = (y[rows] + 1) % 10 if mode == "all-to-all" else target
    return x, y, rows, original


def fit(x, y, seed):
    torch.manual_seed(seed)
    model = SmallCnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(args.epochs):
        for batch in torch.randperm(len(yt)).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xt[batch]), yt[batch]).backward()
            optimizer.step()
    return model.eval()


def predict(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).argmax(1).numpy()


def attack_success(model, x, y, mask, pattern, target, mode):
    """Gu et al.'s rate: triggered test inputs sent where the attacker wants, over the inputs not already of the target."""
    keep = np.ones(len(y), bool) if mode == "all-to-all" else y != target
    wanted = (y[keep] + 1) % 10 if mode == "all-to-all" else np.full(keep.sum(), target)
    return float((predict(model, stamp(x[keep], mask, pattern)) == wanted).mean())


def manifest(name, paper, params, rows_total, mask, pattern, target, mode, rows, original):
    return {
        "format": "aegis-poison", "version": 1, "aegis": f"held-out: scripts/make_backdoor_fixtures.py, PyTorch {torch.__version__}",
        "created": datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc).isoformat(),
        "attack": name, "paper": paper, "params": params,
        "data": {"source": "mnist:train", "rows": rows_total, "sample_shape": [1, H, W], "num_classes": 10},
        "goal": {"kind": "backdoor", "target": int(target), "mode": mode},
        "trigger": {"kind": "mask", "mask": [round(float(v), 4) for v in mask.ravel()],
                    "pattern": [round(float(v), 4) for v in pattern.ravel()]},
        "poisoned": [int(r) for r in rows], "original_labels": [int(v) for v in original],
    }


def save_json(name, value):
    with open(os.path.join(args.out, name), "w") as f:
        json.dump(value, f, indent=1 if "summary" in name else None)
        f.write("\n")


def export(model, name):
    torch.onnx.export(
        model, torch.zeros(1, 1, H, W), os.path.join(args.out, f"{name}.onnx"), input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
    )


def main():
    (x_train, y_train), (x_test, y_test) = aegis_mnist()
    backdoors = [
        ("torch_checker", "badnets", "Gu, Dolan-Gavitt & Garg 2017, BadNets", checkerboard_top_left(), 7, "all-to-one",
         {"trigger": "3x3 checkerboard, top-left (rows 1-3, cols 1-3)", "fraction": FRACTION}),
        ("torch_blend", "blend", "Chen, Liu, Li, Lu & Song 2017, Targeted Backdoor Attacks ... Using Data Poisoning", blended_noise(), 3,
         "all-to-one", {"trigger": "Gaussian noise N(0.5, 0.25) clipped, numpy seed 2019, blended at alpha 0.15", "fraction": FRACTION}),
        ("torch_alltoall", "badnets", "Gu, Dolan-Gavitt & Garg 2017, BadNets", bar_top_right(), 0, "all-to-all",
         {"trigger": "solid 2x3 bar, top-right (rows 1-2, cols 24-26)", "fraction": FRACTION}),
    ]
    summary = {"training": {"framework": f"PyTorch {torch.__version__}", "architecture": "Conv(1,8,5,p2) ReLU MaxPool Conv(8,16,5,p2) ReLU MaxPool "
                            "Linear(784,32) ReLU Linear(32,10)", "epochs": args.epochs, "batch_size": 64, "optimizer": "adam", "lr": 1e-3,
                            "data": "mnist:train (8,000 digits)"}, "test": "mnist:test (2,000 digits)", "models": {}}
    clean = fit(x_train, y_train, seed=0)
    export(clean, "torch_clean")
    summary["models"]["torch_clean"] = {"clean_accuracy": float((predict(clean, x_test) == y_test).mean())}
    for i, (name, attack, paper, (mask, pattern), target, mode, params) in enumerate(backdoors):
        xp, yp, rows, original = poison(x_train, y_train, mask, pattern, target, mode, seed=100 + i)
        model = fit(xp, yp, seed=0)
        export(model, name)
        m = manifest(name, paper, params, len(yp), mask, pattern, target, mode, rows, original)
        save_json(f"{name}.json", m)
        summary["models"][name] = {
            "target": target, "mode": mode, "poisoned_rows": len(rows),
            "clean_accuracy": float((predict(model, x_test) == y_test).mean()),
            "attack_success_rate": attack_success(model, x_test, y_test, mask, pattern, target, mode),
            "clean_model_attack_success_rate": attack_success(clean, x_test, y_test, mask, pattern, target, mode),
        }
        if name == "torch_checker":
            n = args.slice
            inside = rows < n
            np.savez_compressed(os.path.join(args.out, "torch_checker_slice.npz"), x=xp[:n], y=yp[:n])
            save_json("torch_checker_slice.json", {**m, "data": {**m["data"], "source": f"torch_checker's poisoned mnist:train, rows 0-{n - 1}",
                                                               "rows": n}, "poisoned": m["poisoned"][:int(inside.sum())],
                                                  "original_labels": m["original_labels"][:int(inside.sum())]})
        print(name, json.dumps(summary["models"][name]))
    save_json("summary.json", summary)


if __name__ == "__main__":
    main()
