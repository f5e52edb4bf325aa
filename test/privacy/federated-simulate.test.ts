/**
 * A client's local training (FedAvg and FedProx) and the attack harness at small scale:
 * 10 clients on 2,000 MNIST digits, 2 of them attackers. The same property as the full
 * table of `npm run bench`: FedAvg breaks under sign-flipping, the coordinate-wise median
 * holds within 5 points of attack-free FedAvg.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMnist } from "../../src/data/index.js";
import { buildArchitecture, OnnxClassifier } from "../../src/engine/index.js";
import { fedAvg, l2Norm, localUpdate, median, prepareSimulation, readParameters, runSimulation, writeParameters } from "../../src/privacy/index.js";
import { float32, labelsOf, sliceRows } from "../../src/tensor.js";

async function linearClassifier() {
  return OnnxClassifier.create(buildArchitecture("linear", { inputShape: [4], numClasses: 2, seed: 3 }), { trainable: true, batchSize: 16 });
}

/** 64 points, class 1 when the first feature is above 0.5. */
function separable() {
  const x = Float32Array.from({ length: 64 * 4 }, (_, i) => ((i * 7919) % 97) / 97);
  return { x: float32([64, 4], x), labels: Array.from({ length: 64 }, (_, r) => (x[r * 4] > 0.5 ? 1 : 0)) };
}

test("parameters travel as one flat vector and come back unchanged", async () => {
  const classifier = await linearClassifier();
  const flat = readParameters(classifier);
  assert.equal(flat.length, 4 * 2 + 2);
  const shifted = Float32Array.from(flat, (v) => v + 1);
  writeParameters(classifier, shifted);
  assert.deepEqual(readParameters(classifier), shifted);
  assert.throws(() => writeParameters(classifier, new Float32Array(3)), /same model/);
  await classifier.release();
});

test("FedProx's proximal term leaves the first step alone and then pulls the local model toward the global one", async () => {
  const classifier = await linearClassifier();
  const global = readParameters(classifier);
  const data = separable();
  // One full-batch step starts at w = w_global, where μ(w − w_global) = 0: the same update.
  const oneStep = { epochs: 1, batchSize: 64, lr: 0.5 };
  const avgStep = await localUpdate(classifier, global, data, oneStep);
  const proxStep = await localUpdate(classifier, global, data, { ...oneStep, mu: 1 });
  for (let i = 0; i < global.length; i++) assert.ok(Math.abs(avgStep.delta[i] - proxStep.delta[i]) < 1e-5, `coordinate ${i}`);
  assert.equal(avgStep.examples, 64);
  // Many steps: a large μ keeps the update much shorter.
  const long = { epochs: 20, batchSize: 16, lr: 0.5, seed: 1 };
  const avg = await localUpdate(classifier, global, data, long);
  const prox = await localUpdate(classifier, global, data, { ...long, mu: 1 });
  assert.ok(l2Norm(prox.delta) < 0.7 * l2Norm(avg.delta), `FedProx ‖Δ‖ ${l2Norm(prox.delta)} vs FedAvg ${l2Norm(avg.delta)}`);
  await classifier.release();
});

test("with 2 sign-flipping or Gaussian clients of 10, FedAvg collapses and the coordinate-wise median holds within 5 points", async () => {
  const mnist = loadMnist();
  const train = { x: sliceRows(mnist.train.x, 0, 2000), labels: labelsOf(sliceRows(mnist.train.y, 0, 2000)) };
  const test = { x: sliceRows(mnist.test.x, 0, 1000), labels: labelsOf(sliceRows(mnist.test.y, 0, 1000)) };
  const model = buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10 });
  const sim = await prepareSimulation(model, train, test, { clients: 10, malicious: 2, rounds: 5, alpha: 10 });
  assert.equal(sim.attackers.size, 2);
  assert.equal(sim.byzantine, 2);
  const clean = await runSimulation(sim, fedAvg, "none");
  const broken = await runSimulation(sim, fedAvg, "sign-flip");
  const held = await runSimulation(sim, median, "sign-flip");
  assert.ok(clean.accuracy > 0.6, `attack-free FedAvg reached only ${clean.accuracy}`);
  assert.ok(broken.accuracy < clean.accuracy - 0.3, `FedAvg under sign-flip kept ${broken.accuracy} (attack-free ${clean.accuracy})`);
  assert.ok(held.accuracy > clean.accuracy - 0.05, `the median under sign-flip fell to ${held.accuracy} (attack-free ${clean.accuracy})`);
  assert.equal(held.rounds.length, 5);
  assert.ok(held.rounds.every((r) => r.clients === 10 && r.attackers === 2));
  // The Gaussian attack at its default σ (FLANDERS's 10) is noise the mean cannot average away.
  const noisy = await runSimulation(sim, fedAvg, "gaussian");
  const filtered = await runSimulation(sim, median, "gaussian");
  await sim.classifier.release();
  assert.ok(noisy.accuracy < clean.accuracy - 0.3, `FedAvg under gaussian kept ${noisy.accuracy} (attack-free ${clean.accuracy})`);
  assert.ok(filtered.accuracy > clean.accuracy - 0.05, `the median under gaussian fell to ${filtered.accuracy} (attack-free ${clean.accuracy})`);
});
