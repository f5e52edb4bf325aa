/**
 * The membership attacks' arithmetic, on synthetic scores where the right answer is known:
 * the metrics (AUC as the Mann–Whitney statistic, TPR at a low FPR, ties), LiRA's two
 * variants and RMIA on Gaussian confidences with and without a membership signal, the
 * calibrated threshold, and the shadow-model plans.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fitInShift, fitTargetScale, liraOffline, liraOnline } from "../../../src/attacks/inference/lira.js";
import { membershipMetrics, thresholdOutcome } from "../../../src/attacks/inference/metrics.js";
import { rmia } from "../../../src/attacks/inference/rmia.js";
import { planShadowModels, trainedOn } from "../../../src/attacks/inference/shadow-models.js";
import { calibrateThreshold } from "../../../src/attacks/inference/threshold.js";
import { createRng } from "../../../src/data/random.js";
import { isAegisError } from "../../../src/errors.js";

test("AUC is the chance a member outscores a non-member (ties half), and TPR at low FPR counts only the strictest thresholds", () => {
  const rng = createRng(1);
  const scores = Array.from({ length: 300 }, () => Math.round(rng.normal() * 4) / 4);
  const isMember = scores.map((s) => rng.next() < 0.3 + 0.2 * Math.tanh(s));
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++)
    for (let j = 0; j < scores.length; j++)
      if (isMember[i] && !isMember[j]) {
        pairs++;
        wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
  const m = membershipMetrics(scores, isMember);
  assert.ok(Math.abs(m.auc - wins / pairs) < 1e-12, `AUC ${m.auc} vs Mann–Whitney ${wins / pairs}`);

  const perfect = membershipMetrics([5, 4, 3, 2, 1, 0], [true, true, true, false, false, false]);
  assert.equal(perfect.auc, 1);
  assert.deepEqual(
    perfect.tprAtLowFpr.map((p) => p.tpr),
    [1, 1],
  );
  // One non-member scores highest: at 0.1 % and 1 % FPR (of 3 non-members) no threshold finds a member.
  const oneLoud = membershipMetrics([9, 4, 3, 2, 1, 0], [false, true, true, true, false, false]);
  assert.deepEqual(
    oneLoud.tprAtLowFpr.map((p) => p.tpr),
    [0, 0],
  );
  assert.ok(Math.abs(oneLoud.balancedAccuracy - (1 + 2 / 3) / 2) < 1e-12);
  assert.equal(membershipMetrics([1, 1, 1, 1], [true, false, true, false]).auc, 0.5);
  assert.throws(
    () => membershipMetrics([1, Number.NaN], [true, false]),
    (e) => isAegisError(e) && e.code === "NON_FINITE",
  );
  assert.throws(
    () => membershipMetrics([1, 2], [true, true]),
    (e) => isAegisError(e) && e.code === "BAD_DATA",
  );
  assert.deepEqual(thresholdOutcome([3, 2, 1, 0], [true, false, true, false], 1.5), { threshold: 1.5, tpr: 0.5, fpr: 0.5, balancedAccuracy: 0.5 });
});

/** n samples; per sample a mean confidence; members gain `signal` when a model trains on them. */
function synthetic(n: number, models: number, signal: number, online: boolean, seed: number) {
  const rng = createRng(seed);
  const base = Array.from({ length: n }, () => rng.normal() * 3);
  const isMember = base.map((_, i) => i < n / 2);
  const draw = (i: number, trained: boolean) => base[i] + (trained ? signal : 0) + rng.normal() * 0.5;
  const trained = Array.from({ length: models }, (_, j) => Uint8Array.from(base, (_, i) => (online && (i + j) % 2 === 0 ? 1 : 0)));
  const phi = trained.map((t) => Float64Array.from(base, (_, i) => draw(i, t[i] === 1)));
  const target = Float64Array.from(base, (_, i) => draw(i, isMember[i]));
  return { isMember, shadows: { phi, trained }, target };
}

test("LiRA separates members by their per-sample shift, offline and online, and gives chance without a signal", () => {
  for (const fixedVariance of [false, true]) {
    const offline = synthetic(400, 8, 2, false, 3);
    const aucOffline = membershipMetrics(liraOffline(offline.target, offline.shadows, { fixedVariance }), offline.isMember).auc;
    assert.ok(aucOffline > 0.95, `offline LiRA AUC ${aucOffline} (fixed variance ${fixedVariance})`);
    const online = synthetic(400, 8, 2, true, 4);
    const aucOnline = membershipMetrics(liraOnline(online.target, online.shadows, { fixedVariance }), online.isMember).auc;
    assert.ok(aucOnline > 0.95, `online LiRA AUC ${aucOnline}`);
    const none = synthetic(2000, 8, 0, false, 5);
    const aucNone = membershipMetrics(liraOffline(none.target, none.shadows, { fixedVariance }), none.isMember).auc;
    assert.ok(Math.abs(aucNone - 0.5) < 0.05, `LiRA without a signal: AUC ${aucNone}`);
  }
  // The per-sample baseline is what makes LiRA strong: the raw confidence is swamped by how hard each sample is.
  const s = synthetic(400, 8, 2, false, 3);
  const raw = membershipMetrics(s.target, s.isMember).auc;
  assert.ok(raw < 0.8, `raw confidence AUC ${raw} should be well below LiRA's`);
  const online = synthetic(10, 2, 1, false, 6);
  assert.throws(
    () => liraOnline(online.target, online.shadows, { fixedVariance: true }),
    (e) => isAegisError(e) && e.code === "BAD_OPTION",
  );
});

/**
 * Models whose overall confidence scale differs between training runs: model j's φ is
 * scale_j × the sample's difficulty, plus `signal` where it trained on the sample. The
 * target's scale is below every shadow model's.
 */
function scaled(n: number, models: number, signal: number, seed: number) {
  const rng = createRng(seed);
  const ease = (count: number) => Array.from({ length: count }, () => 4 + 3 * rng.normal());
  const candidates = ease(n);
  const population = ease(n);
  const isMember = candidates.map((_, i) => i < n / 2);
  const modelScales = Array.from({ length: models }, (_, j) => 1.2 + (0.4 * j) / models);
  const phi = (scale: number, base: number[], trained: (i: number) => boolean) =>
    Float64Array.from(base, (b, i) => scale * b + (trained(i) ? signal : 0) + 0.3 * rng.normal());
  const untrained = () => new Uint8Array(n);
  return {
    isMember,
    target: phi(0.8, candidates, (i) => isMember[i]),
    targetPopulation: phi(0.8, population, () => false),
    shadows: { phi: modelScales.map((s) => phi(s, candidates, () => false)), trained: modelScales.map(untrained) },
    population: { phi: modelScales.map((s) => phi(s, population, () => false)), trained: modelScales.map(untrained) },
  };
}

test("target calibration: when the target's confidence scale differs from the shadow models', the population puts their Gaussians back on its scale", () => {
  const s = scaled(600, 8, 1, 9);
  const scale = fitTargetScale(s.targetPopulation, s.population);
  assert.ok(scale, "a scale is fitted");
  // φ_target ≈ 0.8/1.4 × the shadows' mean φ (their scales average 1.375).
  assert.ok(Math.abs(scale.slope - 0.8 / 1.375) < 0.03 && Math.abs(scale.offset) < 0.2, `slope ${scale.slope}, offset ${scale.offset}`);
  for (const fixedVariance of [true, false]) {
    const plain = membershipMetrics(liraOffline(s.target, s.shadows, { fixedVariance }), s.isMember).auc;
    const calibrated = membershipMetrics(liraOffline(s.target, s.shadows, { fixedVariance, scale }), s.isMember).auc;
    // With one σ for all samples, the uncalibrated test ranks samples by difficulty; per-sample σs (which grow with the shadow models' spread) undo part of that.
    assert.ok(plain < (fixedVariance ? 0.7 : 0.85), `uncalibrated LiRA AUC ${plain} (fixed variance ${fixedVariance})`);
    assert.ok(calibrated > 0.9, `calibrated LiRA AUC ${calibrated} (fixed variance ${fixedVariance})`);
  }
  // No signal: calibration does not invent one.
  const none = scaled(2000, 8, 0, 10);
  const noScale = fitTargetScale(none.targetPopulation, none.population) ?? undefined;
  const auc = membershipMetrics(liraOffline(none.target, none.shadows, { fixedVariance: true, scale: noScale }), none.isMember).auc;
  assert.ok(Math.abs(auc - 0.5) < 0.05, `calibrated LiRA without a signal: AUC ${auc}`);
  // Too few population samples a shadow model did not train on, or a target unrelated to the shadow models: no calibration.
  const few = { phi: s.population.phi, trained: s.population.trained.map((t) => t.map((_, i) => (i < 590 ? 1 : 0))) };
  assert.equal(fitTargetScale(s.targetPopulation, few), null);
  assert.equal(
    fitTargetScale(
      s.targetPopulation.map((v) => -v),
      s.population,
    ),
    null,
  );
});

test("offline likelihood ratio: the IN shift fitted on the population weighs samples by how much training moves them", () => {
  // Training raises φ by 3 on hard samples (φ < 0) and by 0.3 on easy ones; the shadow models each trained on a quarter of the population.
  const rng = createRng(11);
  const shift = (base: number) => (base < 0 ? 3 : 0.3);
  const bases = (n: number) => Array.from({ length: n }, () => 2 + 3 * rng.normal());
  const phi = (base: number[], trained: (i: number) => boolean) => Float64Array.from(base, (b, i) => b + (trained(i) ? shift(b) : 0) + rng.normal());
  const models = 8;
  const population = bases(2000);
  const trainedPopulation = Array.from({ length: models }, () => Uint8Array.from(population, () => (rng.next() < 0.25 ? 1 : 0)));
  const populationPhi = { phi: trainedPopulation.map((t) => phi(population, (i) => t[i] === 1)), trained: trainedPopulation };
  const candidates = bases(2000);
  const isMember = candidates.map((_, i) => i < 1000);
  const shadows = { phi: trainedPopulation.map(() => phi(candidates, () => false)), trained: trainedPopulation.map(() => new Uint8Array(2000)) };
  const target = phi(candidates, (i) => isMember[i]);

  const inShift = fitInShift(populationPhi);
  assert.ok(inShift, "an IN shift is fitted");
  const at = (x: number) => inShift.shift[inShift.at.findIndex((a) => a >= x)];
  assert.ok(Math.abs(at(-3) - 3) < 0.6 && Math.abs(at(5) - 0.3) < 0.3, `fitted shifts ${inShift.shift.map((v) => v.toFixed(2)).join(", ")}`);
  const oneSided = membershipMetrics(liraOffline(target, shadows, { fixedVariance: true }), isMember);
  const ratio = membershipMetrics(liraOffline(target, shadows, { fixedVariance: true, inShift }), isMember);
  assert.ok(ratio.auc > oneSided.auc + 0.03, `AUC: likelihood ratio ${ratio.auc}, one-sided ${oneSided.auc}`);
  // Without population samples a shadow model trained on, there is nothing to fit.
  assert.equal(fitInShift({ phi: populationPhi.phi, trained: trainedPopulation.map((t) => t.map(() => 0)) }), null);
});

test("RMIA ranks members above non-members with two reference models, and gives chance without a signal", () => {
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const run = (signal: number, seed: number) => {
    const candidates = synthetic(400, 2, signal, false, seed);
    const population = synthetic(400, 2, signal, false, seed + 100);
    const p = (a: Float64Array) => a.map(sigmoid);
    const scores = rmia(
      { candidates: p(candidates.target), population: p(population.shadows.phi[0]) },
      {
        candidates: candidates.shadows.phi.map(p),
        trainedCandidates: candidates.shadows.trained,
        population: population.shadows.phi.map(p),
        trainedPopulation: population.shadows.trained,
      },
      { online: false, a: 0.5, gamma: 1 },
    );
    return { auc: membershipMetrics(scores, candidates.isMember).auc, raw: membershipMetrics(p(candidates.target), candidates.isMember).auc };
  };
  const strong = run(2, 7);
  assert.ok(strong.auc > 0.8 && strong.auc > strong.raw + 0.1, `RMIA AUC ${strong.auc}, raw probability ${strong.raw}`);
  const none = run(0, 8).auc;
  assert.ok(Math.abs(none - 0.5) < 0.08, `RMIA without a signal: AUC ${none}`);
});

test("the threshold is calibrated on shadow models' own members, not on the target's", () => {
  const shadow = (shift: number) => ({
    scores: Float64Array.from({ length: 10 }, (_, i) => i + shift),
    trained: Uint8Array.from({ length: 10 }, (_, i) => (i >= 5 ? 1 : 0)),
  });
  // Each shadow separates best between its 5th and 6th score: 5 + shift.
  assert.equal(calibrateThreshold([shadow(0), shadow(2)]), 6);
  assert.equal(calibrateThreshold([]), null);
  // A shadow model that trained on every reference sample cannot calibrate anything.
  assert.equal(calibrateThreshold([{ scores: Float64Array.of(1, 2), trained: Uint8Array.of(1, 1) }]), null);
});

test("shadow plans: offline models never train on a candidate; online ones put every candidate in exactly half", () => {
  const offline = planShadowModels({ count: 4, trainSize: 50, candidates: 40, poolSize: 240, online: false, seed: 1 });
  for (const [j, m] of offline.models.entries()) {
    assert.equal(m.rows.length, 50);
    assert.equal(new Set(m.rows).size, 50);
    for (let i = 0; i < 40; i++) assert.equal(trainedOn(offline, j, i), false);
  }
  const online = planShadowModels({ count: 5, trainSize: 50, candidates: 100, poolSize: 240, online: true, seed: 2 });
  for (let i = 0; i < 100; i++) assert.equal(online.models.filter((_, j) => trainedOn(online, j, i)).length, 2, `candidate ${i}`);
  for (const m of online.models) assert.equal(m.rows.length, 50);
  // Each model gets 2·100/5 = 40 candidates; 140 would need 56 in each, more than 50.
  assert.throws(
    () => planShadowModels({ count: 5, trainSize: 50, candidates: 140, poolSize: 300, online: true, seed: 2 }),
    (e) => isAegisError(e) && e.code === "BAD_OPTION" && /at most 125 samples/.test(e.message),
  );
  assert.throws(
    () => planShadowModels({ count: 2, trainSize: 500, candidates: 40, poolSize: 240, online: false, seed: 1 }),
    (e) => isAegisError(e) && e.code === "BAD_DATA",
  );
});
