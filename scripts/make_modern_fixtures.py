#!/usr/bin/python3
"""Writes fixtures of the architectures users bring today, exported by torch.onnx the way
their authors would, with PyTorch autograd references: a ViT-like image transformer, a
BERT-like text encoder over token ids, bidirectional LSTM and GRU/RNN sequence classifiers,
and a MobileNetV3-small-like CNN with HardSwish. Random weights (no training): only the
functions matter, so the tests compare Aegis's gradient graphs with autograd.

Run from anywhere with Debian's Python (torch 1.13, onnx 1.12, numpy):
    /usr/bin/python3 scripts/make_modern_fixtures.py [name ...]
Outputs go to fixtures/models/ (see fixtures/README.md). Deterministic: fixed seeds,
deterministic algorithms, one thread, float32.
"""

import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "models")
os.makedirs(OUT, exist_ok=True)

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
BATCH = 4


def path(name):
    return os.path.join(OUT, name)


# --------------------------------------------------------------------------- models


class VitTiny(nn.Module):
    """Patch embedding (Conv 4x4 stride 4), a class token, learned positions, two pre-norm
    nn.TransformerEncoderLayer (batch_first, GELU), final LayerNorm, head on the class token."""

    def __init__(self, dim=24, heads=2, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 4, stride=4)  # 16x16 -> 4x4 = 16 patches
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, 17, dim) * 0.5)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=48, dropout=0.1, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        p = self.patch(x).flatten(2).transpose(1, 2)
        cls = self.cls.expand(x.shape[0], -1, -1)
        h = torch.cat([cls, p], dim=1) + self.pos
        h = self.norm(self.encoder(h))
        return self.head(h[:, 0])


class BertSelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.size = dim // heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)

    def split(self, x):
        return x.view(x.size()[:-1] + (self.heads, self.size)).permute(0, 2, 1, 3)

    def forward(self, h, mask):
        q, k, v = self.split(self.query(h)), self.split(self.key(h)), self.split(self.value(h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.size)
        # A boolean mask is applied as DistilBERT does (masked_fill: Where), a float one added as BERT does.
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min) if mask.dtype == torch.bool else scores + mask
        ctx = torch.matmul(F.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        ctx = ctx.view(ctx.size()[:-2] + (self.heads * self.size,))
        return self.norm(self.out(ctx) + h)


class BertLayer(nn.Module):
    def __init__(self, dim, heads, ff):
        super().__init__()
        self.attention = BertSelfAttention(dim, heads)
        self.up = nn.Linear(dim, ff)
        self.down = nn.Linear(ff, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, h, mask):
        a = self.attention(h, mask)
        return self.norm(self.down(F.gelu(self.up(a))) + a)


class BertTiny(nn.Module):
    """Hugging Face BERT's structure, small: word, position and token-type embeddings
    (positions sliced from a buffer by the sequence length), the attention mask made from
    the token ids (0 is padding), two post-norm layers, a tanh pooler on the first token."""

    def __init__(self, vocab=60, dim=16, heads=2, ff=32, max_len=32, classes=3, padding=0):
        super().__init__()
        self.word = nn.Embedding(vocab, dim, padding_idx=padding)
        self.position = nn.Embedding(max_len, dim)
        self.token_type = nn.Embedding(2, dim)
        self.register_buffer("position_ids", torch.arange(max_len).expand((1, -1)))
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(dim, heads, ff) for _ in range(2)])
        self.pooler = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, classes)

    def embed_rest(self, ids):
        length = ids.shape[1]
        positions = self.position_ids[:, :length]
        types = torch.zeros_like(ids)
        return self.position(positions) + self.token_type(types)

    def encode(self, words, ids):
        h = self.norm(words + self.embed_rest(ids))
        mask = (1.0 - (ids != 0).float())[:, None, None, :] * -10000.0
        for layer in self.layers:
            h = layer(h, mask)
        return self.classifier(torch.tanh(self.pooler(h[:, 0])))

    def forward(self, ids):
        return self.encode(self.word(ids), ids)


class RobertaTiny(BertTiny):
    """RoBERTa's and DistilBERT's conventions on the same structure: padding is id 1,
    positions count the non-padding tokens (CumSum over the mask, as RoBERTa's
    create_position_ids_from_input_ids), and attention is masked with masked_fill."""

    def __init__(self):
        super().__init__(max_len=40, padding=1)

    def embed_rest(self, ids):
        mask = ids.ne(1).int()
        positions = (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + 1
        return self.position(positions) + self.token_type(torch.zeros_like(ids))

    def encode(self, words, ids):
        h = self.norm(words + self.embed_rest(ids))
        keep = (ids != 1)[:, None, None, :]
        for layer in self.layers:
            h = layer(h, keep)
        return self.classifier(torch.tanh(self.pooler(h[:, 0])))


class LstmClassifier(nn.Module):
    """Two-layer bidirectional LSTM over feature sequences, learned initial states, a head on
    the final hidden states of both directions of the last layer and the mean output."""

    def __init__(self, features=5, hidden=12, classes=4):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.h0 = nn.Parameter(torch.randn(4, 1, hidden) * 0.3)
        self.c0 = nn.Parameter(torch.randn(4, 1, hidden) * 0.3)
        self.head = nn.Linear(4 * hidden, classes)

    def forward(self, x):
        b = x.shape[0]
        out, (h, c) = self.lstm(x, (self.h0.expand(-1, b, -1).contiguous(), self.c0.expand(-1, b, -1).contiguous()))
        last = torch.cat([h[-2], h[-1]], dim=1)
        return self.head(torch.cat([last, out.mean(dim=1) + c[-1].repeat(1, 2)], dim=1))


class GruRnnClassifier(nn.Module):
    """A GRU (time-major) then a one-direction tanh RNN with a ReLU RNN beside it."""

    def __init__(self, features=4, hidden=10, classes=3):
        super().__init__()
        self.gru = nn.GRU(features, hidden, bidirectional=True)
        self.rnn = nn.RNN(2 * hidden, hidden, nonlinearity="tanh")
        self.rnn_relu = nn.RNN(2 * hidden, hidden, nonlinearity="relu", num_layers=2)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        seq, _ = self.gru(x.transpose(0, 1))
        _, h = self.rnn(seq)
        out, _ = self.rnn_relu(seq)
        return self.head(torch.cat([h[-1], out[-1]], dim=1))


class UpsampleEinsum(nn.Module):
    """A segmentation-style decoder ending in a classifier: Conv, nearest x2 (torch's
    Upsample), bilinear back to 12x12 (align_corners False) and with align_corners, then
    attention pooling over positions written with torch.einsum."""

    def __init__(self, ch=6, classes=5):
        super().__init__()
        self.down = nn.Conv2d(3, ch, 3, 2, 1)
        self.mix = nn.Conv2d(ch, ch, 3, 1, 1)
        self.query = nn.Parameter(torch.randn(2, ch) * 0.5)
        self.head = nn.Linear(2 * ch, classes)

    def forward(self, x):
        h = torch.tanh(self.down(x))  # 6x6
        h = F.interpolate(h, scale_factor=2, mode="nearest")  # 12x12
        h = torch.tanh(self.mix(h))
        h = F.interpolate(h, size=(9, 9), mode="bilinear", align_corners=False) + F.interpolate(h, size=(9, 9), mode="bilinear", align_corners=True)
        flat = h.flatten(2)  # [B, C, P]
        attention = torch.softmax(torch.einsum("qc,bcp->bqp", self.query, flat), dim=-1)
        pooled = torch.einsum("bqp,bcp->bqc", attention, flat)
        return self.head(pooled.flatten(1))


def make_divisible(v):
    return max(8, int(v + 4) // 8 * 8)


class SqueezeExcite(nn.Module):
    def __init__(self, ch):
        super().__init__()
        squeezed = make_divisible(ch // 4)
        self.fc1 = nn.Conv2d(ch, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, ch, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, expand, cout, kernel, stride, se, act):
        super().__init__()
        layers = []
        if expand != cin:
            layers += [nn.Conv2d(cin, expand, 1, bias=False), nn.BatchNorm2d(expand), act()]
        layers += [nn.Conv2d(expand, expand, kernel, stride, kernel // 2, groups=expand, bias=False), nn.BatchNorm2d(expand), act()]
        if se:
            layers.append(SqueezeExcite(expand))
        layers += [nn.Conv2d(expand, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV3Small(nn.Module):
    """torchvision's mobilenet_v3_small layout, narrowed: a HardSwish stem, inverted residual
    blocks with depthwise convolutions, squeeze-excitation (HardSigmoid gates) and
    ReLU/HardSwish, a 1x1 expansion, global pooling and a HardSwish classifier."""

    def __init__(self, classes=10):
        super().__init__()
        hs, re = nn.Hardswish, nn.ReLU
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False),
            nn.BatchNorm2d(8),
            hs(),
            InvertedResidual(8, 8, 8, 3, 2, True, re),
            InvertedResidual(8, 32, 16, 3, 2, False, re),
            InvertedResidual(16, 40, 16, 3, 1, False, re),
            InvertedResidual(16, 48, 24, 5, 2, True, hs),
            InvertedResidual(24, 64, 24, 5, 1, True, hs),
            nn.Conv2d(24, 64, 1, bias=False),
            nn.BatchNorm2d(64),
            hs(),
        )
        self.classifier = nn.Sequential(nn.Linear(64, 48), hs(), nn.Dropout(0.2), nn.Linear(48, classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(x)


def smooth_images(n, shape, g):
    """Images in [0, 1] that differ in their coarse structure, as photos do: uniform noise
    alone averages out in global pooling and every sample gets the same logits."""
    coarse = torch.rand((n, shape[0], 3, 3), generator=g)
    return F.interpolate(coarse, size=shape[1:], mode="bilinear", align_corners=False) * 0.8 + 0.2 * torch.rand((n,) + shape, generator=g)


def calibrate_batchnorm(model, shape, seed):
    """BatchNorm statistics of real activations (a forward pass in training mode over 64
    images) and random affine parameters, as after training: with default statistics the
    signal of a deep random CNN vanishes and its input gradients are ~1e-7."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.4 * torch.rand(m.num_features, generator=g) - 0.2)
        model.train()
        model(smooth_images(64, shape, g))
    model.eval()


# --------------------------------------------------------------------------- export + references


def export(model, x, name, opset, dynamic, dynamic_output=True):
    f = path(name + ".onnx")
    torch.onnx.export(
        model,
        x,
        f,
        opset_version=opset,
        do_constant_folding=True,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": dynamic, "logits": {0: "batch"}} if dynamic_output else None,
    )
    m = onnx.load(f)
    onnx.checker.check_model(m, full_check=True)
    hist = {}
    for n in m.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    print(f"== {name}: opset {opset}, {sum(p.numel() for p in model.parameters())} parameters, {os.path.getsize(f)} bytes")
    print(f"   ops: {dict(sorted(hist.items()))}")
    return m


def labels_for(logits, classes):
    """Even samples labelled with the prediction, odd ones with another class."""
    y = logits.argmax(1).clone()
    y[1::2] = (y[1::2] + 1) % classes
    return y


def grad_of(fn, x):
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(xg), xg)
    return g.detach()


def references(name, forward, x, classes):
    """CE (summed) and class-0 output gradients with respect to `x`, in float32 and the gap
    to float64 as a guide for tolerances."""
    with torch.no_grad():
        logits = forward(x)
    y = labels_for(logits, classes)
    refs = {
        "logits": logits,
        "grad_ce": grad_of(lambda v: F.cross_entropy(forward(v), y, reduction="sum"), x),
        "grad_class0": grad_of(lambda v: forward(v)[:, 0].sum(), x),
    }
    print(f"   y = {y.tolist()}, pred = {logits.argmax(1).tolist()}, max|grad_ce| = {refs['grad_ce'].abs().max().item():.4g}")
    return y, refs


def save(name, arrays):
    np.savez(path(name + ".npz"), **{k: (v.numpy().astype(np.int64) if v.dtype == torch.int64 else v.numpy().astype(np.float32)) for k, v in arrays.items()})


def float64_gap(name, model, forward64, x, y, refs):
    x64 = x.double()
    g64 = grad_of(lambda v: F.cross_entropy(forward64(v), y, reduction="sum"), x64)
    gap = (g64 - refs["grad_ce"].double()).abs().max() / g64.abs().max()
    print(f"   float32 vs float64 CE gradient: {gap.item():.2g}")


def image_model(name, model, shape, opset, seed):
    g = torch.Generator().manual_seed(seed)
    x = smooth_images(BATCH, shape, g) if len(shape) == 3 else torch.randn((BATCH,) + shape, generator=g)
    model.eval()
    export(model, x, name, opset, {0: "batch"})
    y, refs = references(name, model, x, model_classes(model))
    float64_gap(name, model, model.double(), x, y, refs)
    save(name, {"x": x, "y": y, **refs})


def model_classes(model):
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return last.out_features


def make_vit():
    torch.manual_seed(0)
    image_model("vit_tiny", VitTiny(), (3, 16, 16), 17, seed=1)


def make_vit_static():
    """The same weights and inputs as vit_tiny (vit_tiny.npz is its reference), exported
    with a fixed batch of 4: every Shape in the graph is a constant the exporter did not fold."""
    torch.manual_seed(0)
    model = VitTiny().eval()
    x = torch.tensor(np.load(path("vit_tiny.npz"))["x"])
    export(model, x, "vit_tiny_static", 17, {}, dynamic_output=False)


def make_upsample_einsum():
    torch.manual_seed(11)
    image_model("upsample_einsum", UpsampleEinsum(), (3, 12, 12), 13, seed=12)


def make_mobilenet():
    torch.manual_seed(2)
    model = MobileNetV3Small()
    calibrate_batchnorm(model, (3, 24, 24), 3)
    image_model("mobilenetv3_small", model, (3, 24, 24), 14, seed=4)


def make_lstm():
    torch.manual_seed(5)
    image_model("lstm_classifier", LstmClassifier(), (7, 5), 14, seed=6)


def make_gru():
    torch.manual_seed(7)
    image_model("gru_rnn_classifier", GruRnnClassifier(), (6, 4), 14, seed=8)


def text_model(name, model, seed, padding):
    """Token ids in, with padding at the end of some rows. The reference gradients are with
    respect to the word-embedding output (what HotFlip and embedding-space attacks use)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 60, (BATCH, 10), generator=g) if padding == 1 else torch.randint(1, 60, (BATCH, 10), generator=g)
    ids[1, 7:] = padding
    ids[3, 5:] = padding
    export(model, ids, name, 14, {0: "batch", 1: "sequence"})
    with torch.no_grad():
        words = model.word(ids)
    y, refs = references(name, lambda w: model.encode(w, ids), words, 3)
    m64 = model.double()
    float64_gap(name, m64, lambda w: m64.encode(w, ids), words, y, refs)
    save(name, {"x": ids, "y": y, "embedded": words, **refs})


def make_bert():
    torch.manual_seed(9)
    text_model("bert_tiny", BertTiny(), 10, padding=0)


def make_roberta():
    torch.manual_seed(13)
    text_model("roberta_tiny", RobertaTiny(), 14, padding=1)


MAKERS = {
    "vit_tiny": make_vit,
    "vit_tiny_static": make_vit_static,
    "bert_tiny": make_bert,
    "roberta_tiny": make_roberta,
    "lstm_classifier": make_lstm,
    "gru_rnn_classifier": make_gru,
    "mobilenetv3_small": make_mobilenet,
    "upsample_einsum": make_upsample_einsum,
}
# Names on the command line make only those fixtures (the others stay byte for byte).
for name in sys.argv[1:] or MAKERS:
    MAKERS[name]()
