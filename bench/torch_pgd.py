#!/usr/bin/python3
"""PyTorch reference for the attack bench: PGD-40 L-inf (eps 0.3, step 0.01, one random
start) on the same MNIST CNN weights as models/mnist-cnn.onnx, as ART's
ProjectedGradientDescentPyTorch computes it (gradient, sign step, projection, clip per
iteration, batch 128). ART itself is not installable here; this loop is its core.
Prints one JSON line: seconds and robust accuracy."""
import json
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

model_path, data_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)

weights = {}
for t in onnx.load(model_path).graph.initializer:
    weights[t.name] = torch.from_numpy(numpy_helper.to_array(t).copy())

net = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10),
)
layers = {"conv1": net[0], "conv2": net[2], "fc1": net[6], "fc2": net[8]}
with torch.no_grad():
    for name, layer in layers.items():
        layer.weight.copy_(weights[f"{name}.weight"])
        layer.bias.copy_(weights[f"{name}.bias"])
net.eval()
for p in net.parameters():
    p.requires_grad_(False)

data = np.load(data_path)
x_all = torch.from_numpy(data["x"])
y_all = torch.from_numpy(data["y"]).long()
eps, step, iters = 0.3, 0.01, 40

start = time.perf_counter()
adv_all = []
for i in range(0, len(x_all), 128):
    x, y = x_all[i:i + 128], y_all[i:i + 128]
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(iters):
        adv.requires_grad_(True)
        loss = F.cross_entropy(net(adv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() + step * g.sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    adv_all.append(adv)
seconds = time.perf_counter() - start
with torch.no_grad():
    adv = torch.cat(adv_all)
    robust = (net(adv).argmax(1) == y_all).float().mean().item()
    clean = (net(x_all).argmax(1) == y_all).float().mean().item()
print(json.dumps({"seconds": seconds, "robust_accuracy": robust, "clean_accuracy": clean}))
