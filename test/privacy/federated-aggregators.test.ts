/**
 * The server's aggregation rules on small vectors whose answers are known by hand, and the
 * pieces of the harness with exact properties (LIE's z, the Dirichlet split, the trigger).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng } from "../../src/data/index.js";
import { normalQuantile } from "../../src/normal.js";
import {
  bulyan,
  bulyanSelect,
  type Contribution,
  closestToMedianMean,
  dirichletSplit,
  fedAvg,
  krum,
  krumSelect,
  l2Norm,
  lieZ,
  littleIsEnough,
  median,
  multiKrum,
  normBound,
  sampleGamma,
  stampTrigger,
  trimmedMean,
} from "../../src/privacy/index.js";
import { float32 } from "../../src/tensor.js";

const updates = (rows: number[][], examples: number[] = rows.map(() => 1)): Contribution[] =>
  rows.map((r, i) => ({ delta: Float32Array.from(r), examples: examples[i] }));
function close(actual: ArrayLike<number>, expected: number[], tolerance = 1e-6): void {
  for (const [i, e] of expected.entries()) assert.ok(Math.abs(actual[i] - e) <= tolerance, `coordinate ${i}: ${actual[i]} is not ${e}`);
}

/** `honest` updates near (1, …, 1) and `byzantine` ones near (−10, …, −10), d coordinates. */
function cluster(honest: number, byzantine: number, d = 8, seed = 1): Contribution[] {
  const rng = createRng(seed);
  const around = (centre: number) => Array.from({ length: d }, () => centre + 0.1 * rng.normal());
  return updates([...Array.from({ length: honest }, () => around(1)), ...Array.from({ length: byzantine }, () => around(-10))]);
}

test("FedAvg weights each update by its examples", () => {
  close(
    fedAvg.aggregate(
      updates(
        [
          [1, 0],
          [3, 4],
        ],
        [1, 3],
      ),
      { byzantine: 0 },
    ),
    [2.5, 3],
  );
});

test("the coordinate-wise median ignores a minority of outliers in every coordinate", () => {
  close(
    median.aggregate(
      updates([
        [1, 50],
        [2, -1e6],
        [1e6, 3],
      ]),
      { byzantine: 1 },
    ),
    [2, 3],
  );
  close(median.aggregate(updates([[1], [2], [3], [10]]), { byzantine: 0 }), [2.5]);
});

test("the trimmed mean drops f values per side in each coordinate, then averages", () => {
  const five = updates([
    [-100, 5],
    [1, 4],
    [2, 3],
    [3, 2],
    [100, 1],
  ]);
  close(trimmedMean.aggregate(five, { byzantine: 1 }), [2, 3]);
  close(trimmedMean.aggregate(five, { byzantine: 2 }), [2, 3]);
  close(trimmedMean.aggregate(five, { byzantine: 0 }), [1.2, 3]);
  assert.throws(() => trimmedMean.aggregate(five, { byzantine: 3 }), /at least 7 clients/);
});

test("Krum's score sums the squared distances to the n − f − 2 nearest others", () => {
  // 1-D points 0, 1, 3, 7, 20 with f = 1: each point keeps its 2 nearest.
  // Scores: 0 → 1+9 = 10; 1 → 1+4 = 5; 3 → 4+9 = 13; 7 → 16+36 = 52; 20 → 169+289 = 458.
  const points = updates([[0], [1], [3], [7], [20]]);
  assert.deepEqual(krumSelect(points, 1, 5), [1, 0, 2, 3, 4]);
  close(krum.aggregate(points, { byzantine: 1 }), [1]);
});

test("Krum picks an honest update and Multi-Krum keeps exactly the honest cluster", () => {
  const contributions = cluster(7, 2);
  const chosen = krumSelect(contributions, 2, 7);
  assert.deepEqual(
    [...chosen].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6],
  );
  for (const v of krum.aggregate(contributions, { byzantine: 2 })) assert.ok(Math.abs(v - 1) < 0.5, `Krum returned ${v}, outside the honest cluster`);
  const mean = multiKrum.aggregate(contributions, { byzantine: 2 });
  const honestMean = fedAvg.aggregate(contributions.slice(0, 7), { byzantine: 0 });
  close(mean, [...honestMean], 1e-5);
  assert.throws(() => krum.aggregate(cluster(4, 2), { byzantine: 2 }), /at least 7/);
});

test("Bulyan selects n − 2f updates without the attackers and averages the β values nearest the median", () => {
  assert.equal(closestToMedianMean(Float64Array.from([0, 1, 2, 3, 100]), 3), 2);
  assert.equal(closestToMedianMean(Float64Array.from([-50, 9, 10, 12, 40]), 2), 9.5);
  const contributions = cluster(9, 2, 8, 3);
  const selected = bulyanSelect(contributions, 2);
  assert.equal(selected.length, 7);
  assert.ok(
    selected.every((k) => k < 9),
    `Bulyan selected an attacker: ${selected}`,
  );
  for (const v of bulyan.aggregate(contributions, { byzantine: 2 })) assert.ok(Math.abs(v - 1) < 0.2, `Bulyan returned ${v}`);
  assert.throws(() => bulyan.aggregate(cluster(8, 2), { byzantine: 2 }), /at least 11/);
});

test("norm bounding clips every update to M (by default the median norm) before FedAvg, and adds σ-noise when asked", () => {
  close(normBound({ maxNorm: 1 }).aggregate(updates([[3, 4]]), { byzantine: 0 }), [0.6, 0.8]);
  // Norms 1, 2, 100: the median 2 caps the third at (0, 2).
  const mixed = updates([
    [1, 0],
    [0, 2],
    [0, 100],
  ]);
  close(normBound().aggregate(mixed, { byzantine: 1 }), [1 / 3, 4 / 3], 1e-6);
  close(normBound({ maxNorm: 1, noise: 0.5 }).aggregate(updates([[0, 0]]), { byzantine: 0, normal: () => 1 }), [0.5, 0.5]);
  assert.equal(l2Norm(Float32Array.from([3, 4])), 5);
  assert.throws(() => normBound({ maxNorm: 0 }), /must be positive/);
});

test("LIE shifts the honest mean by z standard deviations, z from Baruch et al.'s s = ⌊n/2 + 1⌋ − f", () => {
  // n = 50, f = 12: s = 14, z = Φ⁻¹(36/50) ≈ 0.583.
  assert.ok(Math.abs(lieZ(50, 12) - 0.5828) < 1e-3, `z = ${lieZ(50, 12)}`);
  assert.equal(lieZ(20, 4), normalQuantile(13 / 20));
  close(littleIsEnough([Float32Array.from([0, 2]), Float32Array.from([2, 2])], 1.5), [1 - 1.5, 2]);
});

test("Gamma draws have the right mean and variance, below and above shape 1", () => {
  const rng = createRng(7);
  for (const shape of [0.3, 3]) {
    const draws = Array.from({ length: 40000 }, () => sampleGamma(shape, rng));
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / draws.length;
    assert.ok(Math.abs(mean - shape) < 0.03 * Math.max(1, shape), `shape ${shape}: mean ${mean}`);
    assert.ok(Math.abs(variance - shape) < 0.08 * Math.max(1, shape), `shape ${shape}: variance ${variance}`);
  }
});

test("the Dirichlet split deals every row once; small α concentrates classes, α = Infinity deals them evenly", () => {
  const labels = Array.from({ length: 2000 }, (_, i) => i % 10);
  const dominantShare = (alpha: number) => {
    const shares = dirichletSplit(labels, 10, alpha, 5);
    const all = shares.flat().sort((a, b) => a - b);
    assert.deepEqual(
      all,
      labels.map((_, i) => i),
      `α ${alpha}: rows lost or duplicated`,
    );
    const byClient = shares.map((rows) => {
      const counts = new Array<number>(10).fill(0);
      for (const r of rows) counts[labels[r]]++;
      return Math.max(...counts) / rows.length;
    });
    return byClient.reduce((a, b) => a + b, 0) / byClient.length;
  };
  // IID: a tenth of each client's data is its largest class; α = 0.1 makes it about half.
  assert.ok(dominantShare(0.1) > 0.45, `α 0.1: the dominant class holds only ${dominantShare(0.1)} of a client's data`);
  assert.ok(Math.abs(dominantShare(Number.POSITIVE_INFINITY) - 0.1) < 1e-9);
  assert.throws(() => dirichletSplit(labels, 3000, 1), /cannot be split/);
});

test("the backdoor trigger whitens a 4×4 square in the bottom-right corner and nothing else", () => {
  const x = float32([2, 1, 28, 28]);
  const stamped = stampTrigger(x);
  let white = 0;
  for (let i = 0; i < stamped.data.length; i++) if (stamped.data[i] === 1) white++;
  assert.equal(white, 2 * 16);
  assert.equal(stamped.data[23 * 28 + 23], 1);
  assert.equal(stamped.data[27 * 28 + 27], 0);
  assert.equal(x.data[23 * 28 + 23], 0, "the input was modified");
});
