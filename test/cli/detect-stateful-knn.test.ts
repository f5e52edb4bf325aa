/**
 * `aegis detect stateful-knn` through the real binary: the threshold it prints is the one
 * `calibrate` computes on the same benign digits, it keeps a held-out benign stream free of
 * alarms and still catches near-duplicate queries, the per-query setting gives the paper's
 * looser δ, the YAML it prints is a route's detector block, and too little data is refused.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { calibrate, createStatefulKnnDetector } from "../../src/gateway/index.js";
import { aegis } from "../helpers/cli.js";

const PIXELS = 28 * 28;
const rows = (x: Float32Array, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => x.subarray((from + i) * PIXELS, (from + i + 1) * PIXELS));

test("aegis detect stateful-knn: δ as calibrate gives it, no alarm on unseen benign digits, near-duplicates caught", async () => {
  const run = await aegis(["detect", "stateful-knn", "--samples", "2002", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const printed = JSON.parse(run.stdout);
  assert.equal(printed.detector, "stateful-knn");
  assert.equal(printed.queries, 2002);
  assert.deepEqual([printed.k, printed.maxHistory, printed.streamQueries, printed.streamFalseAlarms], [50, 1000, 10000, 0.1]);
  const mnist = loadMnist();
  const expected = calibrate(rows(mnist.train.x.data, 0, 2002));
  assert.equal(printed.threshold, Number(expected.toPrecision(6)));

  const detector = createStatefulKnnDetector({ threshold: printed.threshold });
  const benign = rows(mnist.test.x.data, 0, 2000).filter((q) => detector.observe(q).alarm);
  assert.equal(benign.length, 0, "unseen benign digits raised an alarm");

  // A query-based attack's queries: one digit with small perturbations, as a random-search attack sends.
  const attack = createStatefulKnnDetector({ threshold: printed.threshold });
  const rng = createRng(3);
  const seed = mnist.test.x.data.subarray(0, PIXELS);
  let firstAlarm = -1;
  for (let i = 0; i < 200 && firstAlarm < 0; i++) {
    const query = seed.map((v) => Math.min(1, Math.max(0, v + 0.05 * (rng.next() - 0.5))));
    if (attack.observe(query).alarm) firstAlarm = i + 1;
  }
  assert.equal(firstAlarm, 51, "the first verdict comes once the buffer holds k queries, and it should be an alarm");

  const perQuery = await aegis(["detect", "stateful-knn", "--samples", "2002", "--fpr", "0.001", "--json"]);
  assert.equal(perQuery.code, 0, perQuery.stderr);
  assert.ok(JSON.parse(perQuery.stdout).threshold > printed.threshold, "0.1% per query is a looser target than 0.1 alarms per 10,000");

  const yaml = await aegis(["detect", "stateful-knn", "--samples", "2002"]);
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.equal(yaml.stdout, `detectors:\n  stateful-knn: {threshold: ${printed.threshold}, k: 50, maxHistory: 1000}\n`);
});

test("aegis detect stateful-knn refuses too few benign queries for the stream target, and says what to do", async () => {
  const run = await aegis(["detect", "stateful-knn", "--samples", "500"]);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /needs at least 1000 benign queries/);
  assert.match(run.stderr, /Give more, or a per-query fpr/);
});
