/**
 * The DP accountants against published reference values:
 * - RDP with the current conversion (Balle et al. 2020): TensorFlow Privacy's
 *   compute_dp_sgd_privacy test cases, 0.7242 and 1.4155, and Opacus's RDPAccountant test
 *   (σ 1.5, q 0.04, 2,250 steps: 7.32911117143 over Opacus's orders);
 * - RDP with the older conversion (Mironov 2017): 3.0092, the "3.01" of TF Privacy's tutorial;
 * - PRV: the full-batch Gaussian (q = 1), whose composition is exactly a Gaussian with
 *   μ = √T/σ, δ(ε) = Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2) (the check prv_accountant's own tests use);
 *   and on subsampled cases PRV must lie below RDP, which is an upper bound on the true ε.
 * - The inverse: Opacus's get_noise_multiplier gives σ 1.4253 for ε 8 (q 0.04, 90 epochs,
 *   δ 1e-5), with its tolerance of 0.01 in ε.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { normalCdf } from "../../src/normal.js";
import { epsilonSpent, noiseMultiplierFor, OPACUS_ORDERS, PrivacyAccountant, prvEpsilon, rdpEpsilon, subsampledGaussianRdp } from "../../src/privacy/index.js";

const run = (noiseMultiplier: number, samplingRate: number, steps: number) => [{ noiseMultiplier, samplingRate, steps }];
const threeDigits = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= 5e-4 * expected, `${what}: ε ${actual} is not ${expected} to 3 significant digits and more`);

test("RDP with Balle et al.'s conversion reproduces TensorFlow Privacy's compute_dp_sgd_privacy cases", () => {
  threeDigits(rdpEpsilon(run(1.3, 0.0025, 6000), 1e-5).epsilon, 0.7242, "σ 1.3, q 0.0025, 6,000 steps, δ 1e-5");
  threeDigits(rdpEpsilon(run(1.0, 0.001, 30000), 1e-7).epsilon, 1.4155, "σ 1.0, q 0.001, 30,000 steps, δ 1e-7");
});

test("RDP with Mironov's older conversion reproduces the 3.01 of TensorFlow Privacy's MNIST tutorial", () => {
  const older = rdpEpsilon(run(1.1, 256 / 60000, 14063), 1e-5, { conversion: "mironov2017" }).epsilon;
  threeDigits(older, 3.0092, "σ 1.1, q 256/60,000, 14,063 steps");
  // The current conversion is never looser than the old one.
  assert.ok(rdpEpsilon(run(1.1, 256 / 60000, 14063), 1e-5).epsilon < older);
});

test("RDP over Opacus's orders matches Opacus's RDPAccountant test to 9 digits", () => {
  const { epsilon } = rdpEpsilon(run(1.5, 0.04, 2250), 1e-5, { orders: OPACUS_ORDERS });
  assert.ok(Math.abs(epsilon - 7.32911117143) < 1e-8, `ε ${epsilon}`);
});

test("the subsampled Gaussian's RDP: q = 1 is the Gaussian's α/(2σ²), and fractional orders sit between their integer neighbours", () => {
  assert.ok(Math.abs(subsampledGaussianRdp(1, 2, 5) - 5 / 8) < 1e-12);
  // RDP is nondecreasing in α; the fractional series and the integer sum must agree on that.
  for (const [q, sigma] of [
    [0.01, 0.8],
    [0.1, 2],
    [0.3, 0.5],
  ]) {
    const at = (a: number) => subsampledGaussianRdp(q, sigma, a);
    for (const a of [2, 3, 7, 20])
      assert.ok(at(a) <= at(a + 0.5) && at(a + 0.5) <= at(a + 1), `q ${q} σ ${sigma} α ${a}: ${at(a)} ${at(a + 0.5)} ${at(a + 1)}`);
  }
});

test("PRV reproduces the exact ε of the composed full-batch Gaussian within its stated bounds", () => {
  const mu = Math.sqrt(100) / 10;
  const exactDelta = (eps: number) => normalCdf(-eps / mu + mu / 2) - Math.exp(eps) * normalCdf(-eps / mu - mu / 2);
  for (const eps of [0.5, 2]) {
    const r = prvEpsilon(run(10, 1, 100), exactDelta(eps));
    assert.ok(r.lower <= eps && eps <= r.epsilon, `exact ε ${eps} outside [${r.lower}, ${r.epsilon}]`);
    assert.ok(Math.abs(r.estimate - eps) < 2e-3, `estimate ${r.estimate} vs exact ${eps}`);
  }
});

test("PRV is tighter than RDP on the reference cases, and its bounds are about 2·ε_err apart", () => {
  for (const [sigma, q, steps, delta] of [
    [1.3, 0.0025, 6000, 1e-5],
    [1.5, 0.04, 2250, 1e-5],
    [4, 0.01, 1000, 1e-6],
  ]) {
    const prv = epsilonSpent(run(sigma, q, steps), delta, { accountant: "prv" });
    const rdp = epsilonSpent(run(sigma, q, steps), delta, { accountant: "rdp" });
    assert.ok(prv.epsilon < rdp.epsilon, `σ ${sigma} q ${q}: PRV ${prv.epsilon} ≥ RDP ${rdp.epsilon}`);
    // RDP's slack over the tight ε is known to be small but real: 5–15% here.
    assert.ok(prv.epsilon > 0.8 * rdp.epsilon, `σ ${sigma} q ${q}: PRV ${prv.epsilon} implausibly far below RDP ${rdp.epsilon}`);
    assert.ok(prv.lower !== undefined && prv.estimate !== undefined && prv.lower < prv.estimate && prv.estimate < prv.epsilon);
    // ±ε_err (0.01) around the estimate, plus the estimate's own change between δ ± δ_err.
    assert.ok(prv.epsilon - (prv.lower ?? 0) <= 0.021, `bounds [${prv.lower}, ${prv.epsilon}]`);
  }
});

test("noiseMultiplierFor finds the smallest σ that spends the target ε (Opacus: σ 1.4253 for ε 8)", () => {
  const request = { targetEpsilon: 8, delta: 1e-5, samplingRate: 0.04, steps: 2250 };
  const sigma = noiseMultiplierFor(request, { orders: OPACUS_ORDERS });
  const at = (s: number) => rdpEpsilon(run(s, 0.04, 2250), 1e-5, { orders: OPACUS_ORDERS }).epsilon;
  assert.ok(at(sigma) <= 8, `ε(σ = ${sigma}) = ${at(sigma)} exceeds the target`);
  assert.ok(at(sigma * 0.998) > 8, `σ ${sigma} is not the smallest`);
  assert.ok(Math.abs(sigma - 1.425307617) < 0.015, `σ ${sigma} vs Opacus's 1.4253 (which stops within 0.01 of ε)`);
});

test("the running accountant composes steps, and bad inputs are refused with a clear error", () => {
  const accountant = new PrivacyAccountant();
  accountant.step(1.3, 0.0025, 2000);
  accountant.step(1.3, 0.0025, 4000);
  assert.equal(accountant.steps, 6000);
  threeDigits(accountant.spent(1e-5).epsilon, 0.7242, "6,000 steps in two parts");
  assert.equal(epsilonSpent(run(0, 0.01, 10), 1e-5).epsilon, Number.POSITIVE_INFINITY);
  assert.equal(epsilonSpent(run(1, 0.01, 0), 1e-5).epsilon, 0);
  assert.throws(() => epsilonSpent(run(1, 1.5, 10), 1e-5), { code: "BAD_OPTION" });
  assert.throws(() => epsilonSpent(run(1, 0.01, 10), 0), { code: "BAD_OPTION" });
  assert.throws(() => noiseMultiplierFor({ targetEpsilon: 1e-9, delta: 1e-5, samplingRate: 1, steps: 1e6 }), { code: "BAD_OPTION" });
});
