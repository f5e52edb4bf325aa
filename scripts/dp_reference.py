"""Reference values for test/privacy/canary-audit.test.ts and analytics.test.ts: the one-run audit's ε lower bound
(Steinke, Nasr & Jagielski 2023, Theorem 3 / Algorithm 2), computed independently with scipy's
binomial distribution. Run with /usr/bin/python3 (Debian's scipy)."""
import math
from scipy.stats import binom


def p_value(m, r, v, eps, delta):
    p = 1 / (1 + math.exp(-eps))
    beta = binom.sf(v - 1, r, p)
    alpha, band = 0.0, 0.0
    for i in range(1, v + 1):
        band += binom.pmf(v - i, r, p)
        alpha = max(alpha, band / i)
    return min(1.0, beta + alpha * 2 * m * delta)


def lower_bound(m, r, v, delta, confidence):
    level = 1 - confidence
    if p_value(m, r, v, 0, delta) >= level:
        return 0.0
    low, high = 0.0, 1.0
    while p_value(m, r, v, high, delta) < level:
        low, high = high, high * 2
    while high - low > 1e-9:
        mid = (low + high) / 2
        if p_value(m, r, v, mid, delta) < level:
            low = mid
        else:
            high = mid
    return low


for m, r, v, delta, c in [
    (1000, 100, 100, 0, 0.95),
    (1000, 100, 100, 1e-5, 0.95),
    (1000, 200, 180, 1e-5, 0.95),
    (1000, 1000, 700, 1e-5, 0.95),
    (10000, 1000, 1000, 1e-5, 0.95),
    (200, 40, 30, 1e-5, 0.95),
    (200, 40, 21, 1e-5, 0.95),
    (1000, 100, 90, 0, 0.99),
]:
    print(f"{{ canaries: {m}, guesses: {r}, correct: {v}, delta: {delta}, confidence: {c}, epsilon: {lower_bound(m, r, v, delta, c):.6f} }},")


# The analytic Gaussian mechanism's σ (Balle & Wang 2018, Theorem 8) by bisection on scipy's
# normal CDF, for test/privacy/analytics.test.ts.
from scipy.stats import norm


def gaussian_delta(sigma, sens, eps):
    a, b = sens / (2 * sigma), eps * sigma / sens
    return norm.cdf(a - b) - math.exp(eps) * norm.cdf(-a - b)


def analytic_sigma(sens, eps, delta):
    low, high = 0.0, sens
    while gaussian_delta(high, sens, eps) > delta:
        high *= 2
    while (high - low) / high > 1e-12:
        mid = (low + high) / 2
        if gaussian_delta(mid, sens, eps) > delta:
            low = mid
        else:
            high = mid
    return high


for sens, eps, delta in [(1, 1, 1e-5), (1, 0.1, 1e-5), (2, 3, 1e-6), (1, 10, 1e-5)]:
    print(f"{{ sensitivity: {sens}, epsilon: {eps}, delta: {delta}, sigma: {analytic_sigma(sens, eps, delta):.6f} }},")
