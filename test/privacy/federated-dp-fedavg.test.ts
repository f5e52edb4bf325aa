/**
 * DP-FedAvg (McMahan et al. 2018) at small scale: the server-side clip bounds any client's
 * effect on the average by S/(qN), the noise has σ = zS/(qN), ε comes from the same RDP
 * accountant DP-SGD uses, and small noise costs little accuracy against FedAvg.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng, loadMnist } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/index.js";
import {
  type Contribution,
  dpFedAvg,
  dpFedAvgEpsilon,
  dpFedAvgNoiseFor,
  fedAvg,
  l2Norm,
  prepareSimulation,
  runSimulation,
  type SecureAggregationReport,
  secureDpFedAvg,
  simulationAggregator,
  simulationEpsilon,
} from "../../src/privacy/index.js";
import { float32, labelsOf, sliceRows } from "../../src/tensor.js";

const noNoise = { byzantine: 0 };

function update(values: number[], examples = 10): Contribution {
  return { delta: Float32Array.from(values), examples };
}

test("the clip bounds what any one client, however scaled, moves the average by: S/(qN)", () => {
  const clip = 1;
  const expectedClients = 4;
  const rule = dpFedAvg({ clip, noiseMultiplier: 0, expectedClients, dimension: 3 });
  const honest = [update([0.1, 0.2, 0]), update([0, -0.3, 0.1]), update([0.2, 0, 0.2])];
  const without = rule.aggregate(honest, noNoise);
  // Updates inside the clip pass unchanged: the honest sum over the fixed denominator qN.
  for (let i = 0; i < 3; i++) {
    const expected = honest.reduce((s, c) => s + c.delta[i], 0) / expectedClients;
    assert.ok(Math.abs(without[i] - expected) < 1e-6, `coordinate ${i}: ${without[i]} vs ${expected}`);
  }
  for (const scale of [1, 10, 1e6]) {
    const attacker = { ...update([3 * scale, -4 * scale, 12 * scale], 10_000), malicious: true };
    const withAttacker = rule.aggregate([...honest, attacker], noNoise);
    const effect = l2Norm(Float32Array.from(withAttacker, (v, i) => v - without[i]));
    assert.ok(effect <= clip / expectedClients + 1e-6, `scale ${scale}: the attacker moved the average by ${effect}`);
    // Clipping keeps the direction and the full budget S/(qN) of a long update.
    assert.ok(effect > clip / expectedClients - 1e-6, `scale ${scale}: effect ${effect}`);
  }
  // FedAvg, weighting by examples, lets the same attacker drag the average arbitrarily far.
  const plain = fedAvg.aggregate([...honest, { ...update([3e6, -4e6, 12e6], 10_000), malicious: true }], noNoise);
  assert.ok(l2Norm(plain) > 1e6);
});

test("the noise on an all-zero round has standard deviation zS/(qN) per coordinate", () => {
  const clip = 2;
  const noiseMultiplier = 1.5;
  const expectedClients = 5;
  const dimension = 40_000;
  const rule = dpFedAvg({ clip, noiseMultiplier, expectedClients, dimension });
  const rng = createRng(7);
  const zeros = Array.from({ length: 5 }, () => update(new Array(dimension).fill(0)));
  const step = rule.aggregate(zeros, { byzantine: 0, normal: () => rng.normal() });
  const mean = step.reduce((s, v) => s + v, 0) / dimension;
  const sd = Math.sqrt(step.reduce((s, v) => s + (v - mean) ** 2, 0) / (dimension - 1));
  const sigma = (noiseMultiplier * clip) / expectedClients;
  // The sample sd's standard error is σ/√(2n) ≈ 0.35% of σ here; 2% is ~6 standard errors.
  assert.ok(Math.abs(sd / sigma - 1) < 0.02, `sd ${sd} vs σ ${sigma}`);
  assert.ok(Math.abs(mean) < (4 * sigma) / Math.sqrt(dimension), `mean ${mean}`);
  // A round that samples nobody still releases the noise (else the release would reveal it).
  const empty = rule.aggregate([], { byzantine: 0, normal: () => rng.normal() });
  assert.equal(empty.length, dimension);
  assert.ok(empty.some((v) => v !== 0));
});

test("ε per client is the subsampled-Gaussian RDP accountant's, and --target-epsilon inverts it", () => {
  // The accountant's test trusts ε = 0.7242 for σ 1.3, q 0.0025, 6,000 steps, δ 1e-5 (Opacus/TF Privacy).
  const { epsilon } = dpFedAvgEpsilon({ samplingRate: 0.0025, noiseMultiplier: 1.3, rounds: 6000, delta: 1e-5 });
  assert.ok(Math.abs(epsilon - 0.7242) < 1e-3, `ε ${epsilon}`);
  const request = { samplingRate: 0.1, rounds: 50, delta: 1e-5, targetEpsilon: 2 };
  const z = dpFedAvgNoiseFor(request);
  assert.ok(dpFedAvgEpsilon({ ...request, noiseMultiplier: z }).epsilon <= 2);
  assert.ok(dpFedAvgEpsilon({ ...request, noiseMultiplier: z * 0.99 }).epsilon > 2, `z ${z} is not the smallest`);
});

test("with small noise DP-FedAvg stays within 5 points of FedAvg, also under secure aggregation, and every round reports ε spent", async () => {
  const mnist = loadMnist();
  const train = { x: sliceRows(mnist.train.x, 0, 2000), labels: labelsOf(sliceRows(mnist.train.y, 0, 2000)) };
  const held = { x: sliceRows(mnist.test.x, 0, 1000), labels: labelsOf(sliceRows(mnist.test.y, 0, 1000)) };
  const model = buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10 });
  const setting = { clients: 10, rounds: 4, alpha: 10 };
  const plain = await prepareSimulation(model, train, held, setting);
  const baseline = await runSimulation(plain, fedAvg, "none");
  await plain.classifier.release();
  const dp = { clip: 3, noiseMultiplier: 0.1, delta: 1e-5 };
  const sim = await prepareSimulation(model, train, held, { ...setting, dp });
  assert.throws(() => simulationAggregator(sim, "median"), { code: "BAD_OPTION", message: /--aggregator fedavg with --dp/ });
  const run = await runSimulation(sim, simulationAggregator(sim, "fedavg"), "none");
  await sim.classifier.release();
  assert.equal(run.aggregator, "dp-fedavg");
  assert.ok(baseline.accuracy > 0.6, `FedAvg reached only ${baseline.accuracy}`);
  assert.ok(run.accuracy > baseline.accuracy - 0.05, `DP-FedAvg ${run.accuracy} vs FedAvg ${baseline.accuracy}`);
  assert.deepEqual(
    run.rounds.map((r) => r.epsilon),
    [1, 2, 3, 4].map((rounds) => dpFedAvgEpsilon({ samplingRate: 1, noiseMultiplier: 0.1, rounds, delta: 1e-5 }).epsilon),
  );
  assert.equal(simulationEpsilon(sim, 4), run.rounds[3].epsilon);
  // The same federation with each client clipping its own update before masking.
  const secureSim = await prepareSimulation(model, train, held, { ...setting, dp, secureAggregation: {} });
  const secure = await runSimulation(secureSim, simulationAggregator(secureSim, "fedavg"), "none");
  await secureSim.classifier.release();
  assert.equal(secure.aggregator, "dp-fedavg+secagg");
  assert.ok(secure.accuracy > baseline.accuracy - 0.05, `DP-FedAvg under secure aggregation ${secure.accuracy} vs FedAvg ${baseline.accuracy}`);
  assert.deepEqual(
    secure.rounds.map((r) => r.epsilon),
    run.rounds.map((r) => r.epsilon),
  );
});

test("in a federation, an attacker's scale beyond the clip changes nothing, where it wrecks FedAvg", async () => {
  const mnist = loadMnist();
  const train = { x: sliceRows(mnist.train.x, 0, 2000), labels: labelsOf(sliceRows(mnist.train.y, 0, 2000)) };
  const held = { x: sliceRows(mnist.test.x, 0, 1000), labels: labelsOf(sliceRows(mnist.test.y, 0, 1000)) };
  const model = buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10 });
  const setting = { clients: 10, malicious: 2, rounds: 4, alpha: 10 };
  const dp = { clip: 3, noiseMultiplier: 0.1 };
  const accuracyUnder = async (scale: number, withDp: boolean) => {
    const sim = await prepareSimulation(model, train, held, { ...setting, attackSettings: { scale }, ...(withDp ? { dp } : {}) });
    const run = await runSimulation(sim, withDp ? simulationAggregator(sim, "fedavg") : fedAvg, "scaled");
    await sim.classifier.release();
    return run.rounds.map((r) => r.accuracy);
  };
  const hundredfold = await accuracyUnder(100, true);
  const thousandfold = await accuracyUnder(1000, true);
  // Both attackers' updates are clipped to the same S·Δ/‖Δ‖: the same federation, round by round.
  for (let r = 0; r < hundredfold.length; r++)
    assert.ok(Math.abs(hundredfold[r] - thousandfold[r]) < 0.005, `round ${r + 1}: ${hundredfold[r]} vs ${thousandfold[r]}`);
  assert.ok((thousandfold.at(-1) as number) > 0.6, `DP-FedAvg under a ×1000 attack reached ${thousandfold.at(-1)}`);
  const plain = await accuracyUnder(1000, false);
  assert.ok((plain.at(-1) as number) < 0.2, `FedAvg under a ×1000 attack kept ${plain.at(-1)}`);
});

test("DP-FedAvg samples each client independently with probability q", async () => {
  const x = float32(
    [40, 4],
    Float32Array.from({ length: 160 }, (_, i) => ((i * 7919) % 97) / 97),
  );
  const data = { x, labels: Array.from({ length: 40 }, (_, r) => r % 2) };
  const model = buildArchitecture("linear", { inputShape: [4], numClasses: 2, seed: 3 });
  const options = { clients: 20, rounds: 30, fraction: 0.4, alpha: Number.POSITIVE_INFINITY, local: { batchSize: 2, epochs: 1 } };
  const sim = await prepareSimulation(model, data, data, { ...options, dp: { clip: 1, noiseMultiplier: 1 } });
  const run = await runSimulation(sim, simulationAggregator(sim, "fedavg"), "none");
  await sim.classifier.release();
  const counts = run.rounds.map((r) => r.clients);
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  // Binomial(20, 0.4): mean 8, sd 2.2; the mean of 30 rounds has sd 0.4.
  assert.ok(Math.abs(mean - 8) < 1.6, `mean clients per round ${mean}`);
  assert.ok(new Set(counts).size > 2, `round sizes ${counts.join(", ")} do not vary`);
  await assert.rejects(prepareSimulation(model, data, data, { ...options, dp: { clip: 1, noiseMultiplier: 1, delta: 2 } }), { code: "BAD_OPTION" });
});

test("under secure aggregation the clients clip: the unmasked sum of clipped updates plus the server's noise is DP-FedAvg's step", () => {
  const dimension = 500;
  const rng = createRng(11);
  const contributions = Array.from({ length: 8 }, (_, k) =>
    update(
      Array.from({ length: dimension }, () => (k % 3 === 0 ? 0.5 : 0.01) * rng.normal()),
      10 + k,
    ),
  );
  const settings = { clip: 1, noiseMultiplier: 0.8, expectedClients: 10 };
  // The same noise stream on both sides: the results differ only by quantisation.
  const noise = (seed: number) => {
    const source = createRng(seed);
    return { byzantine: 0, normal: () => source.normal() };
  };
  const reports: SecureAggregationReport[] = [];
  const secure = secureDpFedAvg(settings, { onAggregation: (r) => reports.push(r) }).aggregate(contributions, noise(5));
  const plain = dpFedAvg({ ...settings, dimension }).aggregate(contributions, noise(5));
  const bound = reports[0].quantisationError / settings.expectedClients + 1e-6;
  for (let i = 0; i < dimension; i++) assert.ok(Math.abs(secure[i] - plain[i]) <= bound, `coordinate ${i}: ${secure[i]} vs ${plain[i]}`);
  // The long updates (k = 0, 3, 6: norm ≈ 11) were clipped by their clients, the others not.
  assert.equal(reports[0].clipped, 3);
  // The noise is there: without it the step is the clipped sum over qN, and the two differ by σ = zS/(qN) per coordinate.
  const quiet = secureDpFedAvg({ ...settings, noiseMultiplier: 0 }).aggregate(contributions, noNoise);
  const sd = Math.sqrt(secure.reduce((s, v, i) => s + (v - quiet[i]) ** 2, 0) / dimension);
  assert.ok(Math.abs(sd - 0.08) < 0.01, `noise sd ${sd}, expected zS/(qN) = 0.08`);
  // The server cannot enforce the clip: an attacker that skips it moves the step by more than S/(qN).
  const attacker = {
    ...update(
      Array.from({ length: dimension }, () => 0.5),
      10,
    ),
    malicious: true,
  };
  const attacked = secureDpFedAvg({ ...settings, noiseMultiplier: 0 }).aggregate([...contributions, attacker], noNoise);
  const effect = l2Norm(Float32Array.from(attacked, (v, i) => v - quiet[i]));
  assert.ok(effect > 10 * (settings.clip / settings.expectedClients), `the unclipped attacker moved the step by ${effect}`);
});
