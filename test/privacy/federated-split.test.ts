/**
 * `splitFederation` (aegis fl split): the held-out test share is stratified and never given
 * to a client, the clients' rows are exactly the training rows, small α makes the clients'
 * class mixes differ and α = ∞ makes them alike, and standardisation uses the training rows'
 * statistics only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadDataset } from "../../src/data/index.js";
import { splitFederation } from "../../src/privacy/federated/index.js";
import { float32, labelsOf } from "../../src/tensor.js";

const wdbc = loadDataset(fileURLToPath(new URL("../../data/breast-cancer/wdbc.csv", import.meta.url)));
const table = { x: wdbc.x, labels: labelsOf(wdbc.y as NonNullable<typeof wdbc.y>) };
const FEATURES = 30;

const rowKey = (x: Float32Array, row: number) => Array.from(x.subarray(row * FEATURES, (row + 1) * FEATURES)).join(",");
const rowsOf = (part: { x: { data: Float32Array }; labels: readonly number[] }) => part.labels.map((_, r) => rowKey(part.x.data, r));
const malignantShare = (part: { labels: readonly number[] }) => part.labels.filter((l) => l === 0).length / part.labels.length;

test("the shipped table is the UCI diagnostic data: 569 rows, 30 features, 212 malignant (0) and 357 benign (1)", () => {
  assert.deepEqual(wdbc.x.shape, [569, FEATURES]);
  assert.equal(table.labels.filter((l) => l === 0).length, 212);
  assert.equal(table.labels.filter((l) => l === 1).length, 357);
});

test("the test share is stratified and disjoint from the clients, whose rows together are the training rows", () => {
  const split = splitFederation(table, { clients: 5, alpha: 0.5, testShare: 0.2, standardise: false, seed: 3 });
  assert.equal(split.clients.length, 5);
  assert.equal(split.test.labels.filter((l) => l === 0).length, Math.round(212 * 0.2));
  assert.equal(split.test.labels.filter((l) => l === 1).length, Math.round(357 * 0.2));
  const test = new Set(rowsOf(split.test));
  const clientRows = split.clients.flatMap(rowsOf);
  assert.equal(clientRows.length + test.size, 569);
  assert.ok(
    clientRows.every((row) => !test.has(row)),
    "no client holds a test row",
  );
  assert.deepEqual(rowsOf(split.train), clientRows, "train.npz is the clients' rows, in order");
  assert.deepEqual([...new Set([...clientRows, ...test])].sort(), [...new Set(table.labels.map((_, r) => rowKey(wdbc.x.data, r)))].sort());
});

test("small α gives the hospitals different class mixes and sizes; α = ∞ deals every class evenly", () => {
  const nonIid = splitFederation(table, { clients: 5, alpha: 0.5, testShare: 0.2, standardise: false, seed: 0 });
  const shares = nonIid.clients.map(malignantShare);
  const sizes = nonIid.clients.map((c) => c.labels.length);
  assert.ok(Math.max(...shares) - Math.min(...shares) > 0.3, `malignant shares ${shares}`);
  assert.ok(Math.max(...sizes) > 3 * Math.min(...sizes), `sizes ${sizes}`);
  const iid = splitFederation(table, { clients: 5, alpha: Number.POSITIVE_INFINITY, testShare: 0.2, standardise: false, seed: 0 });
  for (const share of iid.clients.map(malignantShare)) assert.ok(Math.abs(share - 170 / 456) < 0.02, `IID share ${share}`);
});

test("standardisation z-scores with the training rows' statistics, and applies the same scaling to the test rows", () => {
  const raw = splitFederation(table, { clients: 5, alpha: 0.5, testShare: 0.2, standardise: false, seed: 1 });
  const scaled = splitFederation(table, { clients: 5, alpha: 0.5, testShare: 0.2, standardise: true, seed: 1 });
  const { mean, std } = scaled.scaling as { mean: number[]; std: number[] };
  const n = scaled.train.labels.length;
  for (const f of [0, 3, 29]) {
    const column = Array.from({ length: n }, (_, r) => scaled.train.x.data[r * FEATURES + f]);
    const m = column.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(column.reduce((a, b) => a + (b - m) ** 2, 0) / n);
    assert.ok(Math.abs(m) < 1e-4 && Math.abs(sd - 1) < 1e-3, `feature ${f}: mean ${m}, sd ${sd}`);
    const rawTest = raw.test.x.data[f];
    assert.ok(Math.abs(scaled.test.x.data[f] - (rawTest - mean[f]) / std[f]) < 1e-4, "test rows use the training scaling");
  }
  const constant = splitFederation(
    { x: float32([4, 1], [7, 7, 7, 7]), labels: [0, 1, 0, 1] },
    { clients: 2, alpha: 1, testShare: 0, standardise: true, seed: 0 },
  );
  assert.deepEqual(Array.from(constant.train.x.data), [0, 0, 0, 0], "a constant feature becomes 0, not NaN");
});

test("impossible splits are refused with what to change", () => {
  assert.throws(() => splitFederation(table, { clients: 5, alpha: 0.5, testShare: 1, standardise: false, seed: 0 }), /--test-share must lie in \[0, 1\)/);
  assert.throws(
    () => splitFederation({ x: float32([4, 1], [1, 2, 3, 4]), labels: [0, 1, 0, 1] }, { clients: 4, alpha: 1, testShare: 0.5, standardise: false, seed: 0 }),
    /too few for 4 clients; lower --test-share or --clients/,
  );
  assert.throws(
    () => splitFederation({ x: float32([2, 1, 2], [1, 2, 3, 4]), labels: [0, 1] }, { clients: 1, alpha: 1, testShare: 0, standardise: false, seed: 0 }),
    /rows × features/,
  );
});
