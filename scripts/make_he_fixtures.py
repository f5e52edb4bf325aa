#!/usr/bin/python3
"""Builds the held-out fixture of encrypted inference (run with Debian's python3: torch, numpy).

TenSEAL's encrypted-MNIST tutorial network as PyTorch writes it (conv 1→4 kernel 7 stride 3,
x*x, view(-1, 256), linear 256→64, x*x, linear 64→10), seeded, exported to ONNX by
torch.onnx.export, with eight seeded 28×28 inputs in [0, 1] and PyTorch's outputs for them:
`aegis he compile` must read a graph it did not write and reproduce PyTorch's logits.
"""
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "models")
torch.manual_seed(0)


class ConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, kernel_size=7, padding=0, stride=3)
        self.fc1 = torch.nn.Linear(256, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = x * x
        x = x.view(-1, 256)
        x = self.fc1(x)
        x = x * x
        return self.fc2(x)


model = ConvNet().eval()
x = torch.rand(8, 1, 28, 28)
with torch.no_grad():
    y = model(x)
torch.onnx.export(
    model,
    x[:1],
    os.path.join(OUT, "tenseal_convnet.onnx"),
    input_names=["input"],
    output_names=["logits"],
    dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    opset_version=13,
)
np.savez(os.path.join(OUT, "tenseal_convnet.npz"), x=x.numpy(), logits=y.numpy())
