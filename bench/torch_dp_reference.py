#!/usr/bin/python3
"""PyTorch CPU reference for bench/dp.ts: ordinary training and DP-SGD of the DP CNN
(Papernot et al. 2020: conv 16 8x8/2, maxpool 2/1, conv 32 4x4/2, maxpool 2/1, dense 32,
dense 10, tanh) with per-example gradients from functorch's vmap(grad) (torch.func since
PyTorch 2.0; Debian ships 1.13), the way Opacus's functorch mode computes them.

Usage: torch_dp_reference.py THREADS BATCH STEPS
Prints one JSON line: {"torch": version, "train": samples/s, "dp_sgd": samples/s}.
Both run STEPS SGD steps (lr 0.5, momentum 0.9) on random images of fixed batch BATCH; the
DP-SGD step clips each example's gradient to 0.1, sums, adds N(0, (1.0 x 0.1)^2) and divides
by the batch. Poisson sampling is left out (fixed batches), which favours this side slightly.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from functorch import grad, make_functional, vmap

threads, batch, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)


def dp_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 8, 2, padding=3), nn.Tanh(), nn.MaxPool2d(2, 1),
        nn.Conv2d(16, 32, 4, 2), nn.Tanh(), nn.MaxPool2d(2, 1),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 32), nn.Tanh(), nn.Linear(32, 10),
    )


data = torch.rand((steps + 2) * batch, 1, 28, 28)
labels = torch.randint(0, 10, ((steps + 2) * batch,))
batches = [(data[i:i + batch], labels[i:i + batch]) for i in range(0, len(data), batch)]


def samples_per_s(step):
    for x, y in batches[:2]:
        step(x, y)
    start = time.perf_counter()
    for x, y in batches[2:]:
        step(x, y)
    return steps * batch / (time.perf_counter() - start)


model = dp_cnn()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)


def ordinary(x, y):
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


dp_model = dp_cnn()
fmodel, params = make_functional(dp_model)
params = [p.detach() for p in params]
velocity = [torch.zeros_like(p) for p in params]
clip, sigma, lr, momentum = 0.1, 1.0, 0.5, 0.9


def loss_of(p, xi, yi):
    return F.cross_entropy(fmodel(p, xi.unsqueeze(0)), yi.unsqueeze(0))


per_example = vmap(grad(loss_of), in_dims=(None, 0, 0))


def dp_sgd(x, y):
    grads = per_example(params, x, y)
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads))
    scale = (clip / (norms + 1e-6)).clamp(max=1.0)
    for p, v, g in zip(params, velocity, grads):
        noisy = (torch.einsum("n,n...->...", scale, g) + torch.randn_like(p) * sigma * clip) / batch
        v.mul_(momentum).add_(noisy)
        p.sub_(lr * v)


print(json.dumps({"torch": torch.__version__, "train": samples_per_s(ordinary), "dp_sgd": samples_per_s(dp_sgd)}), flush=True)
