"""A CIFAR-10 ResNet-18 (He et al. 2016; 3x3 stem, 11.2M parameters) with random weights,
exported by PyTorch, and 500 random 3x32x32 images labelled by it: the model of issue 23's
time-budget target. Run with Debian's torch: /usr/bin/python3 scripts/make_resnet18_cifar.py DIR
then: aegis audit --model DIR/resnet18.onnx --data DIR/data.npz --time-budget 5m
"""
import sys
import numpy as np
import torch
import torch.nn as nn

out = sys.argv[1] if len(sys.argv) > 1 else "."
torch.manual_seed(0)
class Block(nn.Module):
    def __init__(s, i, o, stride):
        super().__init__()
        s.c1 = nn.Conv2d(i, o, 3, stride, 1, bias=False); s.b1 = nn.BatchNorm2d(o)
        s.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); s.b2 = nn.BatchNorm2d(o)
        s.sc = nn.Sequential() if stride == 1 and i == o else nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
    def forward(s, x):
        y = torch.relu(s.b1(s.c1(x))); y = s.b2(s.c2(y)); return torch.relu(y + s.sc(x))
class R18(nn.Module):
    def __init__(s):
        super().__init__()
        s.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers = []; i = 64
        for o, st in [(64,1),(64,1),(128,2),(128,1),(256,2),(256,1),(512,2),(512,1)]:
            layers.append(Block(i, o, st)); i = o
        s.layers = nn.Sequential(*layers); s.fc = nn.Linear(512, 10)
    def forward(s, x):
        x = s.layers(s.stem(x)); x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1); return s.fc(x)
m = R18().eval()
print(f"{sum(p.numel() for p in m.parameters()):,} parameters")
torch.onnx.export(m, torch.zeros(1,3,32,32), f"{out}/resnet18.onnx", input_names=["input"], output_names=["logits"], dynamic_axes={"input":{0:"n"},"logits":{0:"n"}}, opset_version=13)
x = np.random.RandomState(0).rand(500,3,32,32).astype(np.float32)
with torch.no_grad(): y = m(torch.from_numpy(x)).argmax(1).numpy().astype(np.float32)
np.savez(f"{out}/data.npz", x=x, y=y)
