"""Writes fixtures/gateway/shapiro-wilk.json: samples with SciPy's Shapiro-Wilk W and p-value,
so test/gateway/detectors.test.ts checks Aegis's own implementation (Royston 1992/1995,
AS R94) against an independent one without needing Python at test time.

Run once from the repository root with a SciPy that computes in double precision (1.17 was
used; Debian's python3-scipy 1.10 still runs the single-precision Fortran AS R94, whose
p-values differ from double precision by up to 2e-3 at n = 5000):
    python3 scripts/make_shapiro_fixture.py
The output is committed; rerun only to add cases. Fixed seed, values rounded to 6
decimals before the test is run, so the JSON holds exactly the numbers SciPy saw.
"""

import json
import os

import numpy as np
import scipy
from scipy import stats

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "gateway")
os.makedirs(OUT, exist_ok=True)

rng = np.random.default_rng(20191)
draws = {
    "normal": lambda n: rng.normal(3.0, 2.0, n),
    "uniform": lambda n: rng.uniform(0.0, 1.0, n),
    "exponential": lambda n: rng.exponential(1.0, n),
    "lognormal": lambda n: rng.lognormal(0.0, 0.6, n),
    # Two clusters: what an extraction stream's distances look like to PRADA.
    "bimodal": lambda n: np.concatenate([rng.normal(0.0, 0.3, n // 2), rng.normal(4.0, 0.3, n - n // 2)]),
}
sizes = [3, 4, 5, 6, 7, 8, 11, 12, 13, 20, 35, 50, 101, 250, 1000, 5000]

cases = []
for n in sizes:
    for name, draw in draws.items():
        # The largest sizes only for two distributions, to keep the file small.
        if n >= 1000 and name not in ("normal", "bimodal"):
            continue
        x = np.round(draw(n), 6)
        w, p = stats.shapiro(x)
        cases.append({"distribution": name, "n": n, "x": x.tolist(), "w": float(w), "p": float(p)})

with open(os.path.join(OUT, "shapiro-wilk.json"), "w") as f:
    json.dump({"generator": f"scipy {scipy.__version__} scipy.stats.shapiro, numpy {np.__version__}", "cases": cases}, f)
print(len(cases), "cases")
