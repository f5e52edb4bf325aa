#!/usr/bin/python3
"""Writes the PyTorch-made model fixtures that the TypeScript tests compare Aegis against
(ONNX models plus PyTorch autograd references), so the tests never need Python.

Run from anywhere with Debian's Python (torch 1.13, onnx 1.12, scikit-learn, numpy):
    /usr/bin/python3 scripts/make_fixtures.py
Outputs go to fixtures/models/ and are committed; see fixtures/README.md for their contents.
The script is deterministic: fixed seeds, deterministic algorithms, one thread, float32.
"""

import json
import os
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "models")
os.makedirs(OUT, exist_ok=True)

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
torch.set_default_dtype(torch.float32)

BATCH = 8


def path(name):
    return os.path.join(OUT, name)


# --------------------------------------------------------------------------- models


class CnnMaxpool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)  # 28 -> 26
        self.conv2 = nn.Conv2d(8, 16, 3, stride=1, padding=1)  # 26 -> 26
        self.pool = nn.MaxPool2d(2)  # 26 -> 13
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 13 * 13, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.flatten(self.pool(x))
        return self.fc2(F.relu(self.fc1(x)))


class ResBlock(nn.Module):
    """Conv-BN-GELU-Conv-BN plus identity skip, then GELU."""

    def __init__(self, ch):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)

    def forward(self, x):
        h = F.gelu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.gelu(h + x)


class DownBlock(nn.Module):
    """Stride-2 Conv-BN-GELU-Conv-BN plus a 1x1 stride-2 projection skip, then GELU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = nn.Conv2d(cin, cout, 1, stride=2)

    def forward(self, x):
        h = F.gelu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.gelu(h + self.proj(x))


class ResnetBn(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)  # 16x16
        self.stem_bn = nn.BatchNorm2d(8)
        self.act = nn.LeakyReLU(0.1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)  # 16 -> 8, overlapping windows
        self.block1 = ResBlock(8)  # 8x8
        self.block2 = DownBlock(8, 16)  # 8 -> 4
        self.avg = nn.AvgPool2d(2)  # 4 -> 2
        self.gap = nn.AdaptiveAvgPool2d(1)  # 2 -> 1 (GlobalAveragePool)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(self.act(self.stem_bn(self.stem(x))))
        x = self.block2(self.block1(x))
        x = self.flatten(self.gap(self.avg(x)))
        return self.fc(x)


class TabularMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 32)
        self.ln = nn.LayerNorm(32)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(32, 16)
        self.fc3 = nn.Linear(16, 3)

    def forward(self, x):
        x = self.drop(F.relu(self.ln(self.fc1(x))))
        return self.fc3(torch.sigmoid(self.fc2(x)))


# --------------------------------------------------------------------------- losses


def others_max(z, y):
    """max_{j != y} z_j per row."""
    mask = F.one_hot(y, z.shape[1]).bool()
    return z.masked_fill(mask, float("-inf")).max(dim=1).values


def margin_loss(z, y):
    """Carlini-Wagner margin summed over samples: sum_i (max_{j != y_i} z_ij - z_iy_i)."""
    zy = z.gather(1, y[:, None])[:, 0]
    return (others_max(z, y) - zy).sum()


def dlr_loss(z, y):
    """Croce-Hein DLR loss summed over samples, as in the APGD reference (auto-attack):
    -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12), pi = classes sorted by decreasing z."""
    z_sorted, ind_sorted = z.sort(dim=1)
    ind = (ind_sorted[:, -1] == y).float()
    zy = z[torch.arange(z.shape[0]), y]
    num = zy - z_sorted[:, -2] * ind - z_sorted[:, -1] * (1.0 - ind)
    return (-num / (z_sorted[:, -1] - z_sorted[:, -3] + 1e-12)).sum()


def input_grad(model, x, fn):
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(model(xg)), xg)
    return g.detach()


# --------------------------------------------------------------------------- export + references


def prototype_sampler(shape, num_classes, seed):
    """Images in [0, 1]: a per-class random prototype blended with uniform noise."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand((num_classes,) + tuple(shape), generator=g)

    def sample(n, classes=None):
        c = torch.randint(num_classes, (n,), generator=g) if classes is None else classes
        return 0.6 * protos[c] + 0.4 * torch.rand((n,) + tuple(shape), generator=g), c

    return sample


def linear_sampler(shape, num_classes, seed):
    """Gaussian vectors labelled by the argmax of a fixed random linear map."""
    g = torch.Generator().manual_seed(seed)
    proj = torch.randn(int(np.prod(shape)), num_classes, generator=g)

    def sample(n, classes=None):
        xb = torch.randn((n,) + tuple(shape), generator=g) * 1.5
        return xb, (xb.flatten(1) @ proj).argmax(1)

    return sample


def pretrain(model, sample, steps=80):
    """A short, deterministic Adam run on a synthetic task, so the fixtures' logits are
    spread out and predictions differ across samples, as with a real trained model.
    Also moves BatchNorm running statistics."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        xb, yb = sample(64)
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    model.eval()


def make_labels(logits, num_classes):
    """Even samples labelled with the predicted class, odd ones with another class, so both
    branches of the DLR / margin losses (correctly and wrongly classified) are exercised."""
    pred = logits.argmax(dim=1)
    y = pred.clone()
    for i in range(1, len(y), 2):
        y[i] = (pred[i] + 1 + i) % num_classes
        if y[i] == pred[i]:
            y[i] = (pred[i] + 1) % num_classes
    return y.to(torch.int64)


def export(model, x, name, opset, **kwargs):
    f = path(name + ".onnx")
    torch.onnx.export(
        model,
        x,
        f,
        export_params=True,
        opset_version=opset,
        do_constant_folding=True,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        **kwargs,
    )
    m = onnx.load(f)
    onnx.checker.check_model(m, full_check=True)
    assert [i.name for i in m.graph.input] == ["input"], [i.name for i in m.graph.input]
    assert [o.name for o in m.graph.output] == ["logits"]
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    return m


def op_histogram(m):
    hist = {}
    for n in m.graph.node:
        key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}"
        hist[key] = hist.get(key, 0) + 1
    return dict(sorted(hist.items()))


def find_initializer(m, pname, value):
    """The ONNX initializer holding exactly this parameter: by name first, then by value."""
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    if pname in inits and inits[pname].shape == value.shape and np.array_equal(inits[pname], value):
        return pname
    hits = [n for n, a in inits.items() if a.shape == value.shape and np.array_equal(a, value)]
    if len(hits) != 1:
        raise RuntimeError(f"parameter {pname} has {len(hits)} matching initializers: {hits}")
    return hits[0]


def references(name, model, x, num_classes, onnx_models):
    model.eval()
    with torch.no_grad():
        logits0 = model(x)
    y = make_labels(logits0, num_classes)

    refs = {
        "x": x,
        "y": y,
        "logits": logits0,
        "grad_ce": input_grad(model, x, lambda z: F.cross_entropy(z, y, reduction="sum")),
        "grad_margin": input_grad(model, x, lambda z: margin_loss(z, y)),
        "grad_dlr": input_grad(model, x, lambda z: dlr_loss(z, y)),
    }
    # Logit z_3 for the 10-class models; the 3-class tabular model has no z_3, so it gets
    # grad_class2 (its last logit) instead.
    cls = 3 if num_classes > 3 else num_classes - 1
    refs[f"grad_class{cls}"] = input_grad(model, x, lambda z: z[:, cls].sum())

    # Parameter gradients of the MEAN cross-entropy, first and last weight tensors.
    named = [(n, p) for n, p in model.named_parameters() if n.endswith("weight") and p.dim() >= 2]
    chosen = [named[0], named[-1]]
    model.zero_grad()
    F.cross_entropy(model(x), y, reduction="mean").backward()
    mapping = {}
    for i, (pname, p) in enumerate(chosen):
        key = f"grad_params_{i}"
        refs[key] = p.grad.detach().clone()
        value = p.detach().numpy()
        inits = {find_initializer(m, pname, value) for m in onnx_models}
        assert len(inits) == 1, inits
        mapping[key] = inits.pop()
    model.zero_grad()

    # Every initializer that kept a PyTorch name holds exactly that parameter or buffer.
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    for m in onnx_models:
        for init in m.graph.initializer:
            if init.name in state:
                assert np.array_equal(numpy_helper.to_array(init), state[init.name]), init.name

    arrays = {}
    for k, v in refs.items():
        a = v.detach().numpy()
        arrays[k] = a.astype(np.int64) if k == "y" else a.astype(np.float32)
    np.savez(path(name + ".npz"), **arrays)
    with open(path(name + ".params.json"), "w") as f:
        json.dump(mapping, f, indent=2)
        f.write("\n")

    # Float64 re-computation: how far float32 autograd is from the exact gradient,
    # a guide for the tolerances of the TypeScript tests.
    m64 = _double_copy(model)
    x64 = x.double()
    losses = {
        "logits": None,
        "grad_ce": lambda z: F.cross_entropy(z, y, reduction="sum"),
        "grad_margin": lambda z: margin_loss(z, y),
        "grad_dlr": lambda z: dlr_loss(z, y),
        f"grad_class{cls}": lambda z: z[:, cls].sum(),
    }
    rel = {}
    for k, fn in losses.items():
        with torch.no_grad():
            r64 = m64(x64) if fn is None else None
        if fn is not None:
            r64 = input_grad(m64, x64, fn)
        r64 = r64.double()
        rel[k] = float((r64 - refs[k].double()).abs().max() / r64.abs().max())

    print(f"== {name}")
    print(f"   y = {y.tolist()}  pred = {logits0.argmax(1).tolist()}")
    print(f"   max|logits| = {logits0.abs().max().item():.6g}")
    zs = logits0.sort(dim=1).values
    print(f"   min over samples of z_pi1 - z_pi3 (DLR denominator) = {(zs[:, -1] - zs[:, -3]).min().item():.4g}")
    for k in ["grad_ce", "grad_margin", "grad_dlr", f"grad_class{cls}", "grad_params_0", "grad_params_1"]:
        print(f"   |{k}| = {refs[k].norm().item():.6g}  max = {refs[k].abs().max().item():.6g}")
    print("   float32 vs float64, max abs diff / max abs: " + ", ".join(f"{k} {v:.2g}" for k, v in rel.items()))
    print(f"   params: {mapping}")
    return mapping


def _double_copy(model):
    import copy

    return copy.deepcopy(model).double().eval()


def randomise_batchnorm(model):
    """Non-trivial affine BatchNorm parameters: scales U(0.5, 1.5), shifts U(-0.2, 0.2)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)


def report_model(m, name):
    print(f"   {name}: opset {[(o.domain or 'ai.onnx', o.version) for o in m.opset_import]}")
    print(f"   ops: {op_histogram(m)}")
    print(f"   initializers: {[i.name for i in m.graph.initializer]}")


# --------------------------------------------------------------------------- 1. cnn_maxpool


def make_cnn():
    torch.manual_seed(0)
    model = CnnMaxpool()
    sample = prototype_sampler((1, 28, 28), 10, seed=10)
    pretrain(model, sample)
    x, _ = sample(BATCH, torch.arange(BATCH))
    m13 = export(model, x, "cnn_maxpool", 13)
    m11 = export(model, x, "cnn_maxpool_op11", 11)
    references("cnn_maxpool", model, x, 10, [m13, m11])
    report_model(m13, "cnn_maxpool.onnx")
    report_model(m11, "cnn_maxpool_op11.onnx")


# --------------------------------------------------------------------------- 2. resnet_bn


def make_resnet():
    torch.manual_seed(1)
    model = ResnetBn()
    randomise_batchnorm(model)
    # Training-mode passes (a short training run, then a few plain forward passes) so the
    # BatchNorm running statistics are far from (0, 1).
    sample = prototype_sampler((3, 16, 16), 10, seed=11)
    pretrain(model, sample)
    model.train()
    with torch.no_grad():
        for _ in range(5):
            model(sample(32)[0])
    model.eval()
    x, _ = sample(BATCH, torch.arange(BATCH))
    # The default EVAL export folds every BatchNormalization into the preceding Conv (renaming
    # and rescaling its weight); PRESERVE on a model in eval() keeps inference-mode
    # BatchNormalization nodes and PyTorch's parameter names. resnet_bn_fused.onnx is the
    # default export, same function, for input-gradient tests (no parameter mapping).
    # torch warns that constant folding may mutate parameters under PRESERVE; that applies to
    # models in training mode only, and references() checks every named initializer bit-exactly.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="It is recommended that constant folding be turned off")
        m = export(model, x, "resnet_bn", 17, training=torch.onnx.TrainingMode.PRESERVE)
    mf = export(model, x, "resnet_bn_fused", 17)
    references("resnet_bn", model, x, 10, [m])
    report_model(m, "resnet_bn.onnx")
    report_model(mf, "resnet_bn_fused.onnx")
    assert "BatchNormalization" in op_histogram(m)


# --------------------------------------------------------------------------- 3. tabular_mlp


def make_tabular():
    torch.manual_seed(2)
    model = TabularMlp()
    sample = linear_sampler((12,), 3, seed=12)
    pretrain(model, sample)
    x, _ = sample(BATCH)
    m = export(model, x, "tabular_mlp", 17)
    references("tabular_mlp", model, x, 3, [m])
    report_model(m, "tabular_mlp.onnx")


# --------------------------------------------------------------------------- tree_classifier


def make_tree():
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    iris = load_iris()
    X = iris.data.astype(np.float32)
    Y = iris.target.astype(np.int64)
    clf = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, Y)
    t = clf.tree_

    # Same attribute layout as skl2onnx's DecisionTreeClassifier converter: one tree (id 0),
    # nodes numbered as in sklearn, BRANCH_LEQ with the left child as the "true" branch,
    # and for every leaf one class weight per class, the leaf's class fractions.
    nodes_treeids, nodes_nodeids, nodes_featureids, nodes_modes = [], [], [], []
    nodes_values, nodes_truenodeids, nodes_falsenodeids, nodes_hitrates = [], [], [], []
    nodes_missing = []
    class_treeids, class_nodeids, class_ids, class_weights = [], [], [], []
    for i in range(t.node_count):
        leaf = t.children_left[i] == t.children_right[i]
        nodes_treeids.append(0)
        nodes_nodeids.append(i)
        nodes_featureids.append(0 if leaf else int(t.feature[i]))
        nodes_modes.append("LEAF" if leaf else "BRANCH_LEQ")
        nodes_values.append(0.0 if leaf else float(t.threshold[i]))
        nodes_truenodeids.append(0 if leaf else int(t.children_left[i]))
        nodes_falsenodeids.append(0 if leaf else int(t.children_right[i]))
        nodes_hitrates.append(1.0)
        nodes_missing.append(0)
        if leaf:
            v = t.value[i][0]
            v = v / v.sum()
            for c in range(len(clf.classes_)):
                class_treeids.append(0)
                class_nodeids.append(i)
                class_ids.append(c)
                class_weights.append(float(v[c]))

    node = helper.make_node(
        "TreeEnsembleClassifier",
        inputs=["input"],
        outputs=["label", "probabilities"],
        name="TreeEnsembleClassifier",
        domain="ai.onnx.ml",
        class_ids=class_ids,
        class_nodeids=class_nodeids,
        class_treeids=class_treeids,
        class_weights=class_weights,
        classlabels_int64s=[int(c) for c in clf.classes_],
        nodes_falsenodeids=nodes_falsenodeids,
        nodes_featureids=nodes_featureids,
        nodes_hitrates=nodes_hitrates,
        nodes_missing_value_tracks_true=nodes_missing,
        nodes_modes=nodes_modes,
        nodes_nodeids=nodes_nodeids,
        nodes_treeids=nodes_treeids,
        nodes_truenodeids=nodes_truenodeids,
        nodes_values=nodes_values,
        post_transform="NONE",
    )
    graph = helper.make_graph(
        [node],
        "DecisionTreeClassifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3]),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="aegis-make_fixtures",
        producer_version="1",
        doc_string="sklearn DecisionTreeClassifier(max_depth=2) on iris, skl2onnx-style, no ZipMap",
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path("tree_classifier.onnx"))
    onnx.checker.check_model(onnx.load(path("tree_classifier.onnx")), full_check=True)

    # Reference outputs on a few rows, checked against a NumPy walk of the attributes above.
    # Rows of every class (3, 3, 2), so all three leaves are reached.
    rng = np.random.RandomState(3)
    rows = [rng.choice(np.flatnonzero(Y == c), k, replace=False) for c, k in [(0, 3), (1, 3), (2, 2)]]
    xs = X[rng.permutation(np.concatenate(rows))]
    proba = clf.predict_proba(xs).astype(np.float32)
    label = clf.predict(xs).astype(np.int64)
    walked = np.zeros_like(proba)
    for r, row in enumerate(xs):
        n = 0
        while nodes_modes[n] != "LEAF":
            n = nodes_truenodeids[n] if row[nodes_featureids[n]] <= nodes_values[n] else nodes_falsenodeids[n]
        for tn, c, w in zip(class_nodeids, class_ids, class_weights):
            if tn == n:
                walked[r, c] += w
    assert np.allclose(walked, proba), (walked, proba)
    np.savez(path("tree_classifier.npz"), x=xs, label=label, probabilities=proba)
    print("== tree_classifier")
    print(f"   nodes {t.node_count}, leaves {nodes_modes.count('LEAF')}, labels {label.tolist()}")
    report_model(model, "tree_classifier.onnx")
    try:
        import onnxruntime  # noqa: F401

        print("   onnxruntime available (not used)")
    except ImportError:
        print("   onnxruntime not importable: checked with onnx.checker only")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}")
    make_cnn()
    make_resnet()
    make_tabular()
    make_tree()
    total = 0
    for f in sorted(os.listdir(OUT)):
        size = os.path.getsize(path(f))
        total += size
        print(f"{size:>9}  fixtures/models/{f}")
    print(f"{total:>9}  total")
    assert total < 3_000_000
