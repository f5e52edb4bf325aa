"""Reference values for the drift tests (fixtures/drift/scipy-values.json), from SciPy.

The drift statistics (src/monitoring/drift/statistics.ts) are checked against these:
the Kolmogorov survival function, the chi-square survival function, and the two-sample
KS and chi-square homogeneity tests on small fixed samples. Run with Debian's Python:

    /usr/bin/python3 scripts/make_drift_reference_values.py
"""
import json

import numpy as np
from scipy import special, stats

rng = np.random.default_rng(25)
a = rng.normal(0.0, 1.0, 120)
b = rng.normal(0.4, 1.2, 80)
ks = stats.ks_2samp(a, b, method="asymp")
# The asymptotic p-value Aegis uses: Kolmogorov's distribution at sqrt(n m / (n + m)) D.
en = len(a) * len(b) / (len(a) + len(b))

ref_counts = np.array([50, 30, 15, 5])
cur_counts = np.array([30, 40, 20, 10])
chi2, chi2_p, dof, _ = stats.chi2_contingency(np.stack([ref_counts, cur_counts]), correction=False)

values = {
    "scipy": __import__("scipy").__version__,
    "kolmogorov": [[x, float(special.kolmogorov(x))] for x in [0.2, 0.4, 0.5, 0.8, 1.0, 1.2, 1.36, 1.63, 2.0, 3.0, 5.0]],
    "chi2_sf": [
        [x, k, float(stats.chi2.sf(x, k))]
        for x, k in [(0.5, 1), (3.84, 1), (10.0, 1), (1.0, 2), (5.99, 2), (9.0, 9), (16.92, 9), (30.0, 9), (100.0, 9), (0.1, 30), (60.0, 30), (300.0, 120)]
    ],
    "ks_two_sample": {
        "a": a.tolist(),
        "b": b.tolist(),
        "statistic": float(ks.statistic),
        "pvalue": float(special.kolmogorov(np.sqrt(en) * ks.statistic)),
    },
    "chi2_homogeneity": {"reference": ref_counts.tolist(), "current": cur_counts.tolist(), "statistic": float(chi2), "dof": int(dof), "pvalue": float(chi2_p)},
}
with open("fixtures/drift/scipy-values.json", "w") as f:
    json.dump(values, f, indent=1)
    f.write("\n")
print("wrote fixtures/drift/scipy-values.json")
