#!/usr/bin/python3
"""PyTorch CPU reference for `npm run bench`: the same MNIST CNN (2×conv 32/64, maxpool,
dense 128, dense 10) on the same machine and thread count.

Run as `torch_reference.py <threads>`, it serves measurements so that the bench can
interleave them with its own (a busy machine then slows both alike): one JSON command per
line on stdin, one JSON answer per line on stdout.

  {"cmd": "forward" | "input_grad", "batch": B, "iters": n}  -> {"ms": mean ms per batch}
  {"cmd": "train", "batch": B, "steps": n}                    -> {"samples_per_s": …}
      n Adam steps (lr 1e-3) on random images, model in train() mode
  {"cmd": "per_sample_norms", "batch": B, "iters": n}         -> {"ms": …}
      each example's parameter-gradient norm with functorch.vmap(grad), as Opacus-style
      DP-SGD computes them
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(0)

model = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


def timed(iters, fn):
    for _ in range(2):
        fn()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) * 1000 / iters


def forward(batch, iters):
    x = torch.rand(batch, 1, 28, 28)
    model.eval()
    with torch.no_grad():
        return timed(iters, lambda: model(x))


def input_grad(batch, iters):
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    model.eval()

    def run():
        xi = x.clone().requires_grad_(True)
        loss = F.cross_entropy(model(xi), y, reduction="sum")
        torch.autograd.grad(loss, xi)

    return timed(iters, run)


def train(batch, steps):
    data = torch.rand(steps * batch, 1, 28, 28)
    labels = torch.randint(0, 10, (steps * batch,))
    model.train()
    start = time.perf_counter()
    for i in range(0, steps * batch, batch):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(data[i:i + batch]), labels[i:i + batch])
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - start)


def per_sample_norms(batch, iters):
    from functorch import grad, make_functional, vmap

    fmodel, params = make_functional(model)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def loss_of(p, xi, yi):
        return F.cross_entropy(fmodel(p, xi.unsqueeze(0)), yi.unsqueeze(0))

    per_example = vmap(grad(loss_of), in_dims=(None, 0, 0))

    def run():
        grads = per_example(params, x, y)
        torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads))

    return timed(iters, run)


print(json.dumps({"torch": torch.__version__}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    kind = command["cmd"]
    if kind == "train":
        answer = {"samples_per_s": train(command["batch"], command["steps"])}
    else:
        answer = {"ms": {"forward": forward, "input_grad": input_grad, "per_sample_norms": per_sample_norms}[kind](command["batch"], command["iters"])}
    print(json.dumps(answer), flush=True)
