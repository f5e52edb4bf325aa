#!/usr/bin/python3
"""Writes the training references the TypeScript tests compare Aegis against, so the tests
never need Python. Run from anywhere with Debian's Python (torch 1.13, onnx 1.12, numpy):
    /usr/bin/python3 scripts/make_training_fixtures.py

1. Per-example gradients of the three model fixtures of make_fixtures.py, whose weights are
   read back from the committed ONNX files (so this script does not depend on replaying
   that one's random streams): fixtures/models/M.per_example.npz.
2. BatchNorm in training mode on resnet_bn: forward, backward and the running statistics
   of one train() step: fixtures/models/resnet_bn.train_mode.npz.
3. A small ResNet with BatchNorm for MNIST-sized input, exported by PyTorch with its
   BatchNormalization nodes kept, for `aegis train --like`: fixtures/models/mnist_resnet_bn.onnx.

Deterministic: fixed seeds, deterministic algorithms, one thread, float32.
"""

import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

import make_fixtures as mf

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

MODELS = {"cnn_maxpool": mf.CnnMaxpool, "resnet_bn": mf.ResnetBn, "tabular_mlp": mf.TabularMlp}
# Parameters whose per-example gradients are stored in full; the norms cover all of them.
MAX_STORED = 5000


def load_from_onnx(name):
    """The PyTorch module of fixture `name` with the weights of its committed ONNX file."""
    model = MODELS[name]()
    onnx_model = onnx.load(mf.path(name + ".onnx"))
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx_model.graph.initializer}
    state = model.state_dict()
    loaded = {k: weights[k] for k in state if k in weights}
    missing = [k for k in state if k not in loaded and not k.endswith("num_batches_tracked")]
    assert not missing, missing
    model.load_state_dict(loaded, strict=False)
    model.eval()
    refs = np.load(mf.path(name + ".npz"))
    x = torch.from_numpy(refs["x"])
    y = torch.from_numpy(refs["y"])
    with torch.no_grad():
        gap = (model(x) - torch.from_numpy(refs["logits"])).abs().max().item()
    assert gap < 1e-5, f"{name}: the weights do not reproduce the fixture's logits ({gap})"
    return model, x, y


def per_example(name):
    """Each example's gradient of its own cross-entropy, by autograd on batches of one."""
    model, x, y = load_from_onnx(name)
    params = dict(model.named_parameters())
    grads = {k: [] for k in params}
    for i in range(len(x)):
        model.zero_grad()
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1], reduction="sum").backward()
        for k, p in params.items():
            grads[k].append(p.grad.detach().clone())
    per = {k: torch.stack(v) for k, v in grads.items()}
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in per.values()))
    clip = float(norms.median())
    scale = torch.clamp(clip / (norms + 1e-6), max=1.0)
    arrays = {"norms": norms, "clip_norm": torch.tensor(clip)}
    for k, g in per.items():
        clipped = g * scale.view(-1, *[1] * (g.dim() - 1))
        arrays[f"clipped_sum/{k}"] = clipped.sum(0)
        # The size of what the sum adds up (max over elements of Σᵢ |sᵢ·gᵢ|): examples cancel,
        # so float32 error is relative to this, not to the sum.
        arrays[f"clipped_scale/{k}"] = clipped.abs().sum(0).max()
        if g[0].numel() <= MAX_STORED:
            arrays[f"per_example/{k}"] = g
    np.savez_compressed(mf.path(name + ".per_example.npz"), **{k: v.detach().numpy().astype(np.float32) for k, v in arrays.items()})
    print(f"== {name}: norms {norms.numpy().round(4).tolist()}, clip norm {clip:.4g}, stored {sorted(k for k in arrays if k.startswith('per_example/'))}")


def bn_train_mode():
    """resnet_bn in train(): logits, input and parameter gradients of the mean CE, and the
    running statistics after that one forward pass (momentum 0.1, unbiased variance)."""
    model, x, y = load_from_onnx("resnet_bn")
    model.train()
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    arrays = {"x": x, "y": y.to(torch.int64), "logits": logits.detach(), "grad_input": xg.grad}
    for k, p in model.named_parameters():
        arrays[f"grad/{k}"] = p.grad
    for k, b in model.state_dict().items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            arrays[f"state/{k}"] = b
    out = {k: v.detach().numpy().astype(np.int64 if k == "y" else np.float32) for k, v in arrays.items()}
    np.savez_compressed(mf.path("resnet_bn.train_mode.npz"), **out)
    print(f"== resnet_bn train mode: loss {loss.item():.6g}, |grad_input| {xg.grad.norm().item():.6g}")


class MnistResnetBn(nn.Module):
    """A small ResNet for 1×28×28 input: stem Conv-BN-ReLU (16), two residual blocks
    (the second down-sampling to 32 channels with a 1×1 projection), global average pool,
    a linear classifier. 19,674 parameters."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.block1 = mf.ResBlock(16)
        self.block2 = mf.DownBlock(16, 32)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(self.gap(x), 1))


def mnist_resnet():
    torch.manual_seed(3)
    model = MnistResnetBn()
    # As after training: BatchNorm parameters and statistics away from (1, 0, 0, 1). Left at
    # their defaults, the exporter would merge the equal tensors into one and Identity nodes.
    mf.randomise_batchnorm(model)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(16, 1, 28, 28))
    model.eval()
    x = torch.rand(2, 1, 28, 28)
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="It is recommended that constant folding be turned off")
        m = mf.export(model, x, "mnist_resnet_bn", 13, training=torch.onnx.TrainingMode.PRESERVE)
    hist = mf.op_histogram(m)
    assert hist.get("BatchNormalization") == 5 and "Identity" not in hist, hist
    print(f"== mnist_resnet_bn: {sum(p.numel() for p in model.parameters())} parameters, ops {hist}")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}")
    for name in MODELS:
        per_example(name)
    bn_train_mode()
    mnist_resnet()
    for f in sorted(os.listdir(mf.OUT)):
        if "per_example" in f or "train_mode" in f or f.startswith("mnist_resnet"):
            print(f"{os.path.getsize(mf.path(f)):>9}  fixtures/models/{f}")
