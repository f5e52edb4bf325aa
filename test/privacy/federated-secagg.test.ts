/**
 * Secure aggregation (Bonawitz et al. 2017): the unmasked sum is the plain sum (exactly in
 * Z_{2^32}, to the stated quantisation error in reals); clients dropping out at every stage
 * leave the exact sum of the survivors; more drops than the threshold allows are refused;
 * what the server sees of one client is statistically uniform and independent of its input;
 * Shamir reconstruction, and altered shares refused; FedAvg under it trains like FedAvg.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng, loadMnist } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/index.js";
import { AegisError } from "../../src/errors.js";
import {
  combineShares,
  dequantise,
  fixedPointFor,
  quantise,
  SecAggClient,
  SecAggServer,
  secureAggregator,
  secureFedAvg,
  secureSum,
  splitSecret,
  sumError,
} from "../../src/privacy/federated/secagg/index.js";
import { fedAvg, prepareSimulation, runSimulation, simulationTable, weightedMean } from "../../src/privacy/index.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

const refusal = (code: string, pattern: RegExp) => (error: unknown) => error instanceof AegisError && error.code === code && pattern.test(error.message);

function randomWords(count: number, length: number, seed: number): Uint32Array[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => Uint32Array.from({ length }, () => Math.floor(rng.next() * 2 ** 32)));
}

function plainSum(inputs: readonly Uint32Array[], ids: readonly number[]): Uint32Array {
  const sum = new Uint32Array(inputs[0].length);
  for (const id of ids) for (let i = 0; i < sum.length; i++) sum[i] = sum[i] + inputs[id - 1][i];
  return sum;
}

test("Shamir t-of-n: any t shares recover the secret, t − 1 are refused, an altered extra share is detected", () => {
  const secret = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
  const shares = splitSecret(secret, 3, [1, 2, 3, 4, 5]);
  for (const subset of [
    [0, 1, 2],
    [4, 2, 0],
    [1, 3, 4],
    [0, 1, 2, 3, 4],
  ]) {
    assert.deepEqual(
      combineShares(
        subset.map((i) => shares[i]),
        3,
        32,
      ),
      secret,
      `shares ${subset}`,
    );
  }
  assert.throws(() => combineShares(shares.slice(0, 2), 3, 32), refusal("BAD_OPTION", /only 2 shares arrived and 3 are needed/));
  const altered = shares.map((s) => ({ x: s.x, y: Uint8Array.from(s.y) }));
  altered[3].y[65] ^= 1;
  assert.throws(() => combineShares(altered.slice(0, 4), 3, 32), refusal("INTEGRITY_FAILED", /party 4 does not lie on the polynomial/));
  // With exactly t shares nothing is redundant, but an altered share moves the secret to a random field element,
  // which exceeds 32 bytes except with probability 2^-265; the server also checks mask keys against their public keys.
  assert.throws(() => combineShares([altered[3], shares[0], shares[1]], 3, 32), refusal("INTEGRITY_FAILED", /out of range/));
});

test("the unmasked sum equals the plain sum exactly in Z_2^32, and the decoded sum is within n/(2·scale) of the real sum", () => {
  const inputs = randomWords(8, 300, 1);
  const { sum, survivors, threshold } = secureSum(inputs);
  assert.deepEqual(survivors, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(threshold, 5);
  assert.deepEqual(sum, plainSum(inputs, survivors));

  const rng = createRng(2);
  const reals = Array.from({ length: 8 }, () => Float64Array.from({ length: 300 }, () => (rng.next() - 0.5) * 1.6));
  const fixedPoint = fixedPointFor(8, 1);
  const decoded = dequantise(secureSum(reals.map((r) => quantise(r, fixedPoint).field)).sum, fixedPoint);
  const bound = sumError(fixedPoint);
  assert.ok(bound < 1.5e-8, `the bound ${bound} is coarser than n²·clip/2^32 for 8 clients at clip 1`);
  for (let i = 0; i < 300; i++) {
    const exact = reals.reduce((s, r) => s + r[i], 0);
    assert.ok(Math.abs(decoded[i] - exact) <= bound, `coordinate ${i}: ${decoded[i]} vs ${exact}`);
  }
  // Clipping is counted, and the extreme sum n·clip decodes without overflow.
  const extreme = quantise([5, -5, 0.5], fixedPoint);
  assert.equal(extreme.clipped, 2);
  const all = dequantise(secureSum(Array.from({ length: 8 }, () => extreme.field)).sum, fixedPoint);
  assert.ok(Math.abs(all[0] - 8) <= bound && Math.abs(all[1] + 8) <= bound && Math.abs(all[2] - 4) <= bound, `${all}`);
});

test("a third of the clients dropping out at each stage still gives the exact sum of the survivors' inputs", () => {
  const inputs = randomWords(18, 64, 3);
  // 18 advertise; 6 never share (12 left); 4 share and never send their input (8 left); 2 send it and never unmask (6 answer).
  const dropouts = { beforeSharing: [1, 4, 7, 10, 13, 16], beforeInput: [2, 8, 14, 17], beforeUnmasking: [3, 18] };
  const result = secureSum(inputs, { threshold: 6, dropouts });
  assert.deepEqual(result.survivors, [3, 5, 6, 9, 11, 12, 15, 18]);
  assert.deepEqual(result.sum, plainSum(inputs, result.survivors));
  // The default majority threshold with a realistic dropout: 12 clients, 1 lost per stage.
  const twelve = randomWords(12, 64, 4);
  const lossy = secureSum(twelve, { dropouts: { beforeAdvertising: [12], beforeSharing: [11], beforeInput: [5, 6], beforeUnmasking: [1] } });
  assert.deepEqual(lossy.survivors, [1, 2, 3, 4, 7, 8, 9, 10]);
  assert.deepEqual(lossy.sum, plainSum(twelve, lossy.survivors));
});

test("more dropouts than the threshold allows are refused with what to do, at every stage", () => {
  const inputs = randomWords(6, 16, 5);
  const cases = [
    [{ beforeAdvertising: [1, 2, 3] }, /only 3 advertised keys/],
    [{ beforeSharing: [1, 2, 3] }, /only 3 shared their keys/],
    [{ beforeInput: [4, 5, 6] }, /only 3 sent masked inputs/],
    [{ beforeUnmasking: [1, 2, 3] }, /only 3 sent unmasking shares/],
  ] as const;
  for (const [dropouts, stage] of cases) {
    assert.throws(() => secureSum(inputs, { threshold: 4, dropouts }), refusal("BAD_OPTION", stage));
    assert.throws(() => secureSum(inputs, { threshold: 4, dropouts }), /at least t = 4 clients at every stage.*lower the threshold/);
  }
  assert.throws(() => secureSum(inputs.slice(0, 1)), refusal("BAD_OPTION", /at least 2 clients.*the sum of one client's input is that input/));
});

/** χ² statistic of the top 4 bits of the words against the uniform distribution (15 degrees of freedom). */
function chiSquareTopBits(words: Uint32Array): number {
  const counts = new Array(16).fill(0);
  for (const w of words) counts[w >>> 28]++;
  const expected = words.length / 16;
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
}

/** The two-sample Kolmogorov-Smirnov statistic of two word vectors. */
function ksStatistic(a: Uint32Array, b: Uint32Array): number {
  const [x, y] = [Float64Array.from(a).sort(), Float64Array.from(b).sort()];
  let [i, j, d] = [0, 0, 0];
  while (i < x.length && j < y.length) {
    if (x[i] <= y[j]) i++;
    else j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

test("what the server sees of a client is uniform and the same for very different inputs; its transcript holds no raw update", () => {
  const length = 4096;
  const fixedPoint = fixedPointFor(5, 1);
  const others = randomWords(4, length, 6);
  // Client 1's update: all zeros, or a large structured one.
  const zero = quantise(new Float64Array(length), fixedPoint).field;
  const large = quantise(
    Float64Array.from({ length }, (_, i) => Math.sin(i / 7) * 0.9),
    fixedPoint,
  ).field;
  const seenOfClient1 = (input: Uint32Array) => {
    const { view } = secureSum([input, ...others], { recordView: true });
    const entry = view?.find((e) => e.stage === "input" && e.from === 1);
    assert.ok(entry);
    return { masked: new Uint32Array(entry.bytes.buffer.slice(entry.bytes.byteOffset, entry.bytes.byteOffset + entry.bytes.byteLength)), view: view ?? [] };
  };
  const fromZero = seenOfClient1(zero);
  const fromLarge = seenOfClient1(large);
  // χ²(15) exceeds 73.6 with probability 1e-9 under uniformity; the raw update fails the same test by far.
  assert.ok(chiSquareTopBits(fromZero.masked) < 73.6, `χ² ${chiSquareTopBits(fromZero.masked)}`);
  assert.ok(chiSquareTopBits(fromLarge.masked) < 73.6, `χ² ${chiSquareTopBits(fromLarge.masked)}`);
  assert.ok(chiSquareTopBits(large) > 1000, `the test cannot tell a raw update from uniform (χ² ${chiSquareTopBits(large)})`);
  // Two-sample KS at α = 1e-6 for n = m = 4096: reject above 2.69·√(2/4096) = 0.0595.
  assert.ok(ksStatistic(fromZero.masked, fromLarge.masked) < 0.0595, `KS ${ksStatistic(fromZero.masked, fromLarge.masked)}`);
  assert.ok(ksStatistic(zero, large) > 0.4, "the KS test cannot tell the two raw updates apart");
  // No 16-byte run of the raw update appears anywhere in what the server received.
  const raw = Buffer.from(large.buffer);
  for (const entry of fromLarge.view) {
    const seen = Buffer.from(entry.bytes);
    for (let offset = 0; offset + 16 <= raw.length; offset += 16 * 61)
      assert.equal(seen.indexOf(raw.subarray(offset, offset + 16)), -1, `${entry.stage} from ${entry.from}`);
  }
  assert.deepEqual([...new Set(fromLarge.view.map((e) => e.stage))], ["advertise", "share", "input", "unmask"], "the recorded view covers every stage");
});

test("a share altered on its way through the server fails AES-GCM, and a reconstructed mask key must match the advertised one", () => {
  const params = { threshold: 3, length: 8, session: "tamper" };
  const clients = [1, 2, 3, 4].map((id) => new SecAggClient(id, params));
  const server = new SecAggServer(params);
  const roster = server.collectAdverts(clients.map((c) => c.advertise()));
  const inboxes = server.routeShares(clients.map((c) => c.shareKeys(roster)));
  const inbox2 = inboxes.get(2) ?? [];
  const altered = inbox2.map((s, i) => (i === 0 ? { ...s, ciphertext: Uint8Array.from(s.ciphertext, (b, j) => (j === 20 ? b ^ 1 : b)) } : s));
  assert.throws(() => clients[1].maskInput(new Uint32Array(8), altered), refusal("INTEGRITY_FAILED", /share from client 1 fails AES-GCM authentication/));
  // A ciphertext for client 3 re-addressed to client 2 is refused as well.
  const readdressed = [{ ...(inboxes.get(3) ?? [])[0], to: 2 }];
  assert.throws(() => clients[1].maskInput(new Uint32Array(8), readdressed), refusal("INTEGRITY_FAILED", /fails AES-GCM/));

  // Client 4 drops after sharing; exactly t = 3 unmasking responses, one carrying an altered share of 4's mask key.
  const masked = clients.slice(0, 3).map((c) => c.maskInput(new Uint32Array(8).fill(7), inboxes.get(c.id) ?? []));
  const survivors = server.collectMaskedInputs(masked);
  const responses = clients.slice(0, 3).map((c) => c.unmask(survivors));
  responses[0].maskKeys[0].share.y[40] ^= 0xff;
  assert.throws(() => server.unmask(responses), refusal("INTEGRITY_FAILED", /dropped client 4 does not match the public key it advertised/));
});

test("FedAvg under secure aggregation equals FedAvg to the quantisation error; the robust rules are refused with why", () => {
  const rng = createRng(7);
  const contributions = Array.from({ length: 10 }, (_, k) => ({
    delta: Float32Array.from({ length: 500 }, () => rng.normal() * 0.05),
    examples: 20 + 13 * k,
  }));
  const reports: { clipped: number; quantisationError: number }[] = [];
  const secure = secureFedAvg({ onAggregation: (r) => reports.push(r) }).aggregate(contributions, { byzantine: 0 });
  const plain = weightedMean(contributions);
  assert.equal(reports[0].clipped, 0);
  const totalWeight = contributions.reduce((s, c) => s + c.examples, 0) / Math.max(...contributions.map((c) => c.examples));
  const bound = reports[0].quantisationError / totalWeight + 1e-7; // + float32 rounding of the result
  for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(secure[i] - plain[i]) <= bound, `coordinate ${i}: ${secure[i]} vs ${plain[i]} (bound ${bound})`);
  // The clip binds honest clients only: an attacker's ×60 update goes into the sum whole, as FedAvg in the clear takes it.
  const attacked = [...contributions.slice(1), { delta: contributions[0].delta.map((v) => v * 60), examples: contributions[0].examples, malicious: true }];
  const secureAttacked = secureFedAvg().aggregate(attacked, { byzantine: 0 });
  const plainAttacked = weightedMean(attacked);
  assert.ok(Math.max(...contributions[0].delta.map((v) => Math.abs(v * 60))) > 1, "the attacker's update should exceed the clip");
  for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(secureAttacked[i] - plainAttacked[i]) <= bound, `attacked coordinate ${i}`);
  for (const name of ["median", "trimmed-mean", "krum", "multi-krum", "bulyan", "norm-bound"])
    assert.throws(() => secureAggregator(name), refusal("BAD_OPTION", new RegExp(`${name} needs each client's individual update.*only their sum`)));
});

test("fl simulate with secure aggregation trains to FedAvg's accuracy from the same seed", async () => {
  const mnist = loadMnist();
  const train = { x: sliceRows(mnist.train.x, 0, 1000), labels: labelsOf(sliceRows(mnist.train.y, 0, 1000)) };
  const testSet = { x: sliceRows(mnist.test.x, 0, 500), labels: labelsOf(sliceRows(mnist.test.y, 0, 500)) };
  const model = buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10 });
  const options = { clients: 8, rounds: 3, alpha: 10 };
  const plainSim = await prepareSimulation(model, train, testSet, options);
  const plain = await runSimulation(plainSim, fedAvg, "none");
  await plainSim.classifier.release();
  const secureSim = await prepareSimulation(model, train, testSet, { ...options, secureAggregation: {} });
  await assert.rejects(simulationTable(secureSim, ["median"], ["none"]), refusal("BAD_OPTION", /median needs each client's individual update/));
  const [secure] = await simulationTable(secureSim, ["fedavg"], ["none"]);
  await secureSim.classifier.release();
  assert.equal(secure.aggregator, "fedavg+secagg");
  assert.ok(plain.accuracy > 0.5, `FedAvg reached only ${plain.accuracy}`);
  for (const [r, round] of secure.rounds.entries())
    assert.ok(Math.abs(round.accuracy - plain.rounds[r].accuracy) <= 0.004, `round ${r + 1}: ${round.accuracy} under SecAgg vs ${plain.rounds[r].accuracy}`);
});
