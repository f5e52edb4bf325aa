#!/usr/bin/python3
"""Builds the PyTorch and NumPy fixtures of `aegis scan` (run with Debian's python3: torch, numpy).

Benign: a tiny state dict (zip format and legacy format) and a TorchScript archive.
Malicious: the same zip with data.pkl replaced by a pickle that would run
`touch /tmp/aegis-pwned` when loaded, and a .npy object array carrying that pickle.
Nothing here loads the malicious files; pickle.dumps only records the call.
"""
import io
import os
import pickle
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "supplychain", "pytorch")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/aegis-pwned",))


model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
torch.save(model.state_dict(), os.path.join(OUT, "benign_state_dict.pt"))
torch.save(model.state_dict(), os.path.join(OUT, "benign_legacy.pt"), _use_new_zipfile_serialization=False)
torch.jit.save(torch.jit.script(model), os.path.join(OUT, "benign_torchscript.pt"))

# Same zip, data.pkl swapped for the payload: a real loader would run it.
with zipfile.ZipFile(os.path.join(OUT, "benign_state_dict.pt")) as src, zipfile.ZipFile(
    os.path.join(OUT, "malicious_state_dict.pt"), "w", zipfile.ZIP_STORED
) as dst:
    for info in src.infolist():
        data = pickle.dumps(Payload(), protocol=2) if info.filename.endswith("/data.pkl") else src.read(info)
        dst.writestr(info.filename, data)

# An object array: np.load(allow_pickle=True) unpickles what follows the header.
buf = io.BytesIO()
np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (1,)})
with open(os.path.join(OUT, "malicious_object.npy"), "wb") as f:
    f.write(buf.getvalue() + pickle.dumps([Payload()], protocol=2))
