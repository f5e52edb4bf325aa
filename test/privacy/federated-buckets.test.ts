/**
 * Robust aggregation over secure-aggregation buckets (Karimireddy et al. 2022): what the
 * server unmasks per bucket is the plain FedAvg of that bucket's members and nothing finer,
 * the robust rule sees only the bucket means, bad combinations are refused, and on MNIST
 * with 2 sign-flipping clients (λ = 10) of 20 secure FedAvg breaks while the median over 10
 * secure buckets holds within 5 points of attack-free FedAvg, and matches it without
 * attackers. (With 4 of 20, up to 4 of the 10 buckets are spoiled and the median falls
 * short: the README's table.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng, loadMnist } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/index.js";
import { AegisError } from "../../src/errors.js";
import { type BucketsReport, fixedPointFor, secureBuckets, sumError } from "../../src/privacy/federated/secagg/index.js";
import { fedAvg, median, multiKrum, prepareSimulation, runSimulation, simulationTable, trimmedMean, weightedMean } from "../../src/privacy/index.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

const refusal = (pattern: RegExp) => (error: unknown) => error instanceof AegisError && error.code === "BAD_OPTION" && pattern.test(error.message);

test("each bucket's unmasked value is the plain FedAvg of its members; the robust rule sees only the bucket means", () => {
  const rng = createRng(11);
  const contributions = Array.from({ length: 13 }, (_, k) => ({
    delta: Float32Array.from({ length: 300 }, () => rng.normal() * 0.05),
    examples: 10 + 7 * k,
  }));
  const reports: BucketsReport[] = [];
  const rule = secureBuckets(median, 4, { byzantine: 1, perRound: 13 }, {}, (r) => reports.push(r));
  assert.equal(rule.name, "median+buckets");
  const step = rule.aggregate(contributions, { byzantine: 1 });
  const [{ members, means }] = reports;
  // A partition of the 13 clients into 4 buckets of 3 or 4, shuffled (not 0-3, 4-7, …).
  assert.deepEqual(
    members.flat().sort((a, b) => a - b),
    contributions.map((_, k) => k),
  );
  assert.deepEqual(members.map((m) => m.length).sort(), [3, 3, 3, 4]);
  assert.notDeepEqual(members, [
    [0, 4, 8, 12],
    [1, 5, 9],
    [2, 6, 10],
    [3, 7, 11],
  ]);
  for (const [b, bucket] of members.entries()) {
    const plain = weightedMean(bucket.map((k) => contributions[k]));
    const largest = Math.max(...bucket.map((k) => contributions[k].examples));
    const totalWeight = bucket.reduce((sum, k) => sum + contributions[k].examples, 0) / largest;
    const bound = sumError(fixedPointFor(bucket.length, 1)) / totalWeight + 1e-7;
    for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(means[b][i] - plain[i]) <= bound, `bucket ${b} coordinate ${i}: ${means[b][i]} vs ${plain[i]}`);
  }
  // The rule's input is the bucket means alone: the median of the four means, exactly.
  assert.deepEqual(
    step,
    median.aggregate(
      means.map((delta) => ({ delta, examples: 1 })),
      { byzantine: 1 },
    ),
  );
  // A second round shuffles again.
  rule.aggregate(contributions, { byzantine: 1 });
  assert.notDeepEqual(reports[1].members, members);
});

test("one attacker spoils only its own bucket: the median over buckets ignores it", () => {
  const rng = createRng(5);
  const honest = Array.from({ length: 9 }, () => ({ delta: Float32Array.from({ length: 50 }, () => 0.01 + rng.normal() * 0.001), examples: 20 }));
  const attacked = [...honest, { delta: new Float32Array(50).fill(-1000), examples: 20, malicious: true }];
  const reports: BucketsReport[] = [];
  const step = secureBuckets(median, 5, { byzantine: 1, perRound: 10 }, { clip: 0.1 }, (r) => reports.push(r)).aggregate(attacked, { byzantine: 1 });
  // The field bounds the attacker to ±n·clip = ±0.2 in its bucket of 2, which that bucket's mean shows.
  const spoiled = reports[0].means.filter((mean) => mean[0] < -0.05);
  assert.equal(spoiled.length, 1);
  for (const v of step) assert.ok(Math.abs(v - 0.01) < 0.005, `median over buckets gave ${v}`);
  // Secure FedAvg over all ten takes the attacker in (bounded only by the field).
  const secureMean = secureBuckets(fedAvg, 2, { byzantine: 0, perRound: 10 }, { clip: 0.1 }).aggregate(attacked, { byzantine: 0 });
  assert.ok(secureMean[0] < -0.01, `secure FedAvg over 2 buckets gave ${secureMean[0]}`);
});

test("bad bucket settings are refused with what to do", () => {
  const round = { byzantine: 2, perRound: 20 };
  assert.throws(() => secureBuckets(median, 1, round), refusal(/--buckets must be an integer of at least 2/));
  assert.throws(() => secureBuckets(median, 11, round), refusal(/buckets of 1, and secure aggregation needs at least 2 in each; use at most 10 --buckets/));
  assert.throws(() => secureBuckets(median, 10, round, { dropout: 0.5 }), refusal(/buckets of 2 clients keep 1 after the dropouts, fewer than the 2/));
  // Median must tolerate min(f, B) = 2 spoiled buckets: 5 buckets; Multi-Krum needs 2f + 3 = 7.
  assert.throws(() => secureBuckets(median, 4, round), refusal(/median must tolerate 2 spoiled buckets .* needs 5 buckets/));
  assert.throws(() => secureBuckets(multiKrum, 5, round), refusal(/multi-krum must tolerate 2 spoiled buckets .* needs 7 buckets/));
  assert.equal(secureBuckets(trimmedMean, 5, round).minClients(2), 10);
});

test("MNIST, 2 sign-flipping clients of 20: secure FedAvg breaks, secure median over 10 buckets holds, and without attackers matches FedAvg", async () => {
  const mnist = loadMnist();
  const train = { x: sliceRows(mnist.train.x, 0, 2000), labels: labelsOf(sliceRows(mnist.train.y, 0, 2000)) };
  const testSet = { x: sliceRows(mnist.test.x, 0, 1000), labels: labelsOf(sliceRows(mnist.test.y, 0, 1000)) };
  const model = buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10 });
  const options = { clients: 20, malicious: 2, rounds: 5, alpha: 10, local: { lr: 0.3 }, attackSettings: { scale: 10 } };
  const plainSim = await prepareSimulation(model, train, testSet, options);
  const clean = await runSimulation(plainSim, fedAvg, "none");
  await plainSim.classifier.release();

  await assert.rejects(prepareSimulation(model, train, testSet, { ...options, buckets: 10 }), refusal(/--buckets applies to secure aggregation/));
  await assert.rejects(
    prepareSimulation(model, train, testSet, { ...options, buckets: 10, secureAggregation: {}, dp: { clip: 1, noiseMultiplier: 1 } }),
    refusal(/--dp cannot be combined with --buckets/),
  );
  const secureSim = await prepareSimulation(model, train, testSet, { ...options, secureAggregation: {} });
  const [broken] = await simulationTable(secureSim, ["fedavg"], ["sign-flip"]);
  await secureSim.classifier.release();
  const bucketSim = await prepareSimulation(model, train, testSet, { ...options, secureAggregation: {}, buckets: 10 });
  const [bucketedClean, held] = await simulationTable(bucketSim, ["median"], ["none", "sign-flip"]);
  await bucketSim.classifier.release();

  assert.equal(held.aggregator, "median+buckets");
  assert.ok(held.rounds.every((r) => r.clients === 20 && r.attackers === 2));
  assert.ok(clean.accuracy > 0.6, `attack-free FedAvg reached only ${clean.accuracy}`);
  assert.ok(broken.accuracy < clean.accuracy - 0.3, `secure FedAvg under sign-flip kept ${broken.accuracy} (attack-free ${clean.accuracy})`);
  assert.ok(held.accuracy > clean.accuracy - 0.05, `secure median over buckets under sign-flip fell to ${held.accuracy} (attack-free ${clean.accuracy})`);
  assert.ok(Math.abs(bucketedClean.accuracy - clean.accuracy) < 0.03, `attack-free: buckets ${bucketedClean.accuracy} vs FedAvg ${clean.accuracy}`);
});
