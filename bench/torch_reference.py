#!/usr/bin/python3
"""PyTorch CPU reference for `npm run bench`: the same MNIST CNN (2×conv 32/64, maxpool,
dense 128, dense 10), timed on the same machine and thread count.
Prints one JSON line: input-gradient ms per batch, training samples per second."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads, batch, grad_iters, train_samples = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)

model = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10),
)
x = torch.rand(batch, 1, 28, 28)
y = torch.randint(0, 10, (batch,))

model.eval()
for p in model.parameters():
    p.requires_grad_(False)


def input_gradient():
    xi = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(xi), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, xi)
    return g


for _ in range(3):
    input_gradient()
start = time.perf_counter()
for _ in range(grad_iters):
    input_gradient()
grad_ms = (time.perf_counter() - start) * 1000 / grad_iters

with torch.no_grad():
    for _ in range(3):
        model(x)
    start = time.perf_counter()
    for _ in range(grad_iters):
        model(x)
    forward_ms = (time.perf_counter() - start) * 1000 / grad_iters

for p in model.parameters():
    p.requires_grad_(True)
model.train()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
data = torch.rand(train_samples, 1, 28, 28)
labels = torch.randint(0, 10, (train_samples,))
start = time.perf_counter()
perm = torch.randperm(train_samples)
for i in range(0, train_samples, batch):
    idx = perm[i:i + batch]
    opt.zero_grad()
    loss = F.cross_entropy(model(data[idx]), labels[idx])
    loss.backward()
    opt.step()
train_sps = train_samples / (time.perf_counter() - start)
print(json.dumps({"torch": torch.__version__, "forward_ms": forward_ms, "grad_ms": grad_ms, "train_samples_per_s": train_sps}))
