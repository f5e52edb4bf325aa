"""Builds the pickle fixtures of `aegis scan` (test/supplychain/pickle.test.ts).

Run with Debian's Python (torch 1.13, numpy, joblib): /usr/bin/python3 scripts/make_supplychain_fixtures.py

Malicious fixtures carry harmless payloads (touching /tmp/aegis-pwned, opening a loopback
URL) and are only ever written, never loaded. manifest.json lists, per fixture, the findings
the scanner must report (rule, lowest severity, opcode offset) or that it must be clean.
"""

import io
import json
import os
import pickle
import pickletools
import struct
import zipfile
from collections import OrderedDict

import joblib
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "supplychain", "pickle")
CMD = "touch /tmp/aegis-pwned"
manifest = {}


def ops(data):
    return [(op.name, pos) for op, _arg, pos in pickletools.genops(data)]


def first(data, *names, nth=0):
    found = [pos for name, pos in ops(data) if name in names]
    return found[nth]


def write(name, data, expect):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    manifest[name] = expect


def malicious(name, data, *expect):
    write(name, data, [dict(rule=r, severity=s, offset=o) for r, s, o in expect])


def benign(name, data):
    write(name, data, "clean")


class Reduce:
    """Pickles as a call of `fn(*args)`; used to write payloads, never loaded."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def su(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


# os.system through REDUCE, as pickle.dumps writes it at several protocols.
for proto in (0, 2, 4, 5):
    data = pickle.dumps(Reduce(os.system, CMD), protocol=proto)
    malicious(f"os_system_p{proto}.pkl", data, ("PICKLE-DANGEROUS-GLOBAL", "CRITICAL", first(data, "GLOBAL", "STACK_GLOBAL")))

import subprocess  # noqa: E402
import runpy  # noqa: E402
import webbrowser  # noqa: E402

for name, fn, args, proto in [
    ("subprocess_popen.pkl", subprocess.Popen, (["touch", "/tmp/aegis-pwned"],), 2),
    ("builtins_eval.pkl", eval, (f"__import__('os').system('{CMD}')",), 4),
    ("builtins_exec.pkl", exec, (f"import os; os.system('{CMD}')",), 3),
    ("dunder_import.pkl", __import__, ("os",), 1),
    ("runpy.pkl", runpy._run_code, (f"import os; os.system('{CMD}')", {}), 4),
    ("webbrowser.pkl", webbrowser.open, ("http://127.0.0.1:9/",), 2),
]:
    data = pickle.dumps(Reduce(fn, *args), protocol=proto)
    malicious(name, data, ("PICKLE-DANGEROUS-GLOBAL", "CRITICAL", first(data, "GLOBAL", "STACK_GLOBAL")))

# STACK_GLOBAL fed from the memo: the two strings just before it are decoys, the real names are memo entries.
head = b"\x80\x04" + su("posix") + b"\x94" + su("system") + b"\x94" + b"00"
decoy = su("collections") + su("OrderedDict") + b"00"
at = len(head + decoy) + 4
data = head + decoy + b"h\x00h\x01\x93" + su(CMD) + b"\x85R."
assert data[at] == 0x93
malicious("memo_stack_global.pkl", data, ("PICKLE-DANGEROUS-GLOBAL", "CRITICAL", at))

# numpy.__builtins__["eval"](...) through operator.getitem.
data = b"\x80\x02cnumpy\n__builtins__\n" b"q\x000" b"coperator\ngetitem\nh\x00" + su("eval") + b"\x86R" + su(f"__import__('os').system('{CMD}')") + b"\x85R."
malicious("numpy_builtins.pkl", data, ("PICKLE-DANGEROUS-GLOBAL", "HIGH", 2))

# pickle.loads of an inner os.system pickle.
inner = pickle.dumps(Reduce(os.system, CMD), protocol=2)
data = pickle.dumps(Reduce(pickle.loads, inner), protocol=4)
malicious(
    "nested_loads.pkl",
    data,
    ("PICKLE-DANGEROUS-GLOBAL", "CRITICAL", first(data, "STACK_GLOBAL")),
    ("PICKLE-NESTED", "CRITICAL", first(data, "REDUCE")),
)

# The same at protocol 2, where bytes are written as _codecs.encode(text, "latin1").
data = pickle.dumps(Reduce(pickle.loads, inner), protocol=2)
malicious("nested_loads_p2.pkl", data, ("PICKLE-NESTED", "CRITICAL", first(data, "REDUCE", nth=1)))

# getattr(importlib.import_module("os"), "system")(CMD)
prefix = b"\x80\x02cbuiltins\ngetattr\ncimportlib\nimport_module\nX\x02\x00\x00\x00os\x85RX\x06\x00\x00\x00system\x86"
data = prefix + b"RX" + struct.pack("<I", len(CMD)) + CMD.encode() + b"\x85R."
malicious(
    "importlib_getattr.pkl",
    data,
    ("PICKLE-GETATTR-MODULE", "CRITICAL", len(prefix)),
    ("PICKLE-DANGEROUS-GLOBAL", "CRITICAL", 2),
)

# BUILD on an allow-listed OrderedDict whose slot state sets a dunder attribute.
prefix = b"\x80\x02ccollections\nOrderedDict\n)RN}X\x0a\x00\x00\x00__reduce__N\x73\x86"
data = prefix + b"b."
malicious("build_setattr.pkl", data, ("PICKLE-BUILD-SETATTR", "HIGH", len(prefix)))

# A broken pickle: the payload runs, then the loader hits garbage.
good = pickle.dumps(Reduce(os.system, CMD), protocol=2)
data = good[:-1] + b"\xff\xfe garbage"
malicious(
    "broken.pkl",
    data,
    ("PICKLE-DANGEROUS-GLOBAL", "CRITICAL", first(good, "GLOBAL")),
    ("MALFORMED-HEADER", "MEDIUM", len(good) - 1),
)



def joblib_bytes(obj):
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()


# joblib: raw array bytes sit between pickle opcodes; the payload comes after two arrays.
arrays = {"coef": np.arange(5, dtype=np.float32), "labels": np.array(["a", 1], dtype=object)}
data = joblib_bytes({**arrays, "model": Reduce(os.system, CMD)})
at = data.index(b"posix") - 2
assert data[at] == 0x8C
malicious("joblib_payload.joblib", data, ("PICKLE-DANGEROUS-GLOBAL", "CRITICAL", data.index(b"\x93", at)))

# Benign: a real torch state dict (data.pkl from the zip torch.save writes) and the legacy stacked format.
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
buf = io.BytesIO()
torch.save(model.state_dict(), buf)
with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
    benign("torch_state_dict_data.pkl", z.read(next(n for n in z.namelist() if n.endswith("/data.pkl"))))
buf = io.BytesIO()
torch.save(model.state_dict(), buf, _use_new_zipfile_serialization=False)
benign("torch_legacy.pt", buf.getvalue())

benign("numpy_array_p2.pkl", pickle.dumps(np.arange(6, dtype=np.float32).reshape(2, 3), protocol=2))
benign("numpy_array_p4.pkl", pickle.dumps({"x": np.arange(4, dtype=np.int64), "s": np.float64(1.5)}, protocol=4))
plain = {
    "a": [1, 2.5, -7, 2**100, "x", "ünï", None, True, False],
    "t": (1, (2, 3)),
    "s": {1, 2},
    "f": frozenset({"a"}),
    "b": b"bytes",
    "ba": bytearray(b"ba"),
    "od": OrderedDict(k=1),
    "shared": ["same"] * 3,
}
for proto in range(6):
    benign(f"plain_p{proto}.pkl", pickle.dumps(plain, protocol=proto))
benign("joblib_arrays.joblib", joblib_bytes({"w": np.ones((3, 4)), "b": np.arange(3, dtype=np.int8), "o": np.array([None, "x"], dtype=object), "n": 7}))
benign("plain_str.pkl", pickle.dumps("just a string", protocol=3))
benign("plain_list.pkl", pickle.dumps(list(range(300)), protocol=1))
benign("oob_buffer_p5.pkl", pickle.dumps(pickle.PickleBuffer(b"out of band"), protocol=5, buffer_callback=lambda b: False))
benign("stacked.pkl", pickle.dumps({"first": 1}, protocol=2) + pickle.dumps(["second"], protocol=4))

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {len(manifest)} fixtures to {OUT}")
