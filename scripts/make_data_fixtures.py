"""Writes the NumPy-made fixtures that test/data reads, so the tests check Aegis against
files NumPy itself wrote without needing Python at test time.

Run once from the repository root with Debian's python3-numpy:
    /usr/bin/python3 scripts/make_data_fixtures.py
The outputs in fixtures/data/ are committed; rerun only to add a fixture.
"""

import os

import numpy as np
from numpy.lib import format as npformat

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "data")
os.makedirs(OUT, exist_ok=True)


def path(name):
    return os.path.join(OUT, name)


# Values a reader could get wrong: negatives, fractions, a 64-bit integer beyond 2**53.
f32 = ((np.arange(12, dtype=np.float32) - 5.5) / 4).reshape(3, 4)
i64 = np.array([[-3, 0, 2**62 + 1], [7, 8, 9]], dtype=np.int64)

np.save(path("f32.npy"), f32)
np.save(path("i64.npy"), i64)
np.save(path("u8.npy"), np.array([0, 1, 128, 255], dtype=np.uint8))
np.save(path("bool.npy"), np.array([True, False, True]))
np.save(path("scalar_f64.npy"), np.float64(2.5))

# Header versions 2.0 and 3.0 are what NumPy falls back to for very long headers.
for version in [(2, 0), (3, 0)]:
    with open(path(f"f32_v{version[0]}.npy"), "wb") as f:
        npformat.write_array(f, f32, version=version)

# Images-like x and integer labels, as an ART user would save them.
x = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 1, 2, 2)
y = np.array([0, 2, 1, 2], dtype=np.int64)
np.savez(path("xy.npz"), x=x, y=y)
np.savez_compressed(path("xy_compressed.npz"), x=x, y=y)

# Files Aegis must refuse.
np.save(path("fortran.npy"), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save(path("bigendian.npy"), np.arange(3, dtype=">f4"))
harmless = np.array([[1, 2], "a harmless list"], dtype=object)
np.savez(path("object.npz"), x=harmless, allow_pickle=True)
np.save(path("object.npy"), harmless, allow_pickle=True)
