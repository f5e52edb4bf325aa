/**
 * The per-client Bernoulli CUSUM over out-of-distribution flags (Page 1954): the statistic
 * on hand-computed sequences, the alarm time of an all-flagged stream, no false alarm on
 * simulated benign streams at the base rate, the reset after an alarm, and the JSON state.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng } from "../../src/data/random.js";
import { AegisError } from "../../src/errors.js";
import { createOodRateDetector, OOD_RATE_DEFAULTS, queriesToAlarm } from "../../src/gateway/detectors/index.js";

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} ≠ ${expected}`);

test("the statistic adds ln(p1/p0) per flag, ln((1−p1)/(1−p0)) per clean query, and never goes below 0", () => {
  // p0 = 0.1, p1 = 0.5: a flag adds ln 5 ≈ 1.6094, a clean query ln(5/9) ≈ −0.5878.
  const cusum = createOodRateDetector({ p0: 0.1, p1: 0.5, h: 100 });
  const up = Math.log(5);
  const down = Math.log(0.5 / 0.9);
  const expected = [
    [false, 0],
    [true, up],
    [true, 2 * up],
    [false, 2 * up + down],
    [false, 2 * up + 2 * down],
    [false, 2 * up + 3 * down],
    [false, 2 * up + 4 * down],
    [false, 2 * up + 5 * down],
    [false, 0], // 2·1.6094 − 6·0.5878 < 0: clamped
    [true, up],
  ] as const;
  expected.forEach(([flag, statistic], i) => {
    const o = cusum.observe(flag);
    close(o.statistic, statistic, `query ${i + 1}`);
    assert.equal(o.alarm, false);
    assert.equal(o.queries, i + 1);
  });
  assert.equal(cusum.state().flagged, 3);
});

test("an all-flagged stream alarms after ⌈h / ln(p1/p0)⌉ queries, and again as often after each reset", () => {
  for (const [p0, p1, h, expected] of [
    [0.01, 0.5, Math.log(1e6), 4], // 13.82 / 3.912 = 3.53
    [0.05, 0.5, Math.log(1e6), 6], // 13.82 / 2.303 = 6.0001
    [0.01, 0.9, 20, 5], // 20 / 4.5 = 4.44
    [0.1, 0.5, Math.log(5) * 3, 3], // exactly 3 steps: S reaches h on the third
  ] as const) {
    const options = { p0, p1, h };
    assert.equal(queriesToAlarm(options), expected, JSON.stringify(options));
    const cusum = createOodRateDetector(options);
    const alarms: number[] = [];
    for (let i = 1; i <= 3 * expected; i++) {
      const o = cusum.observe(true);
      if (o.alarm) {
        alarms.push(i);
        assert.equal(o.statistic, 0, "the statistic restarts after an alarm");
      }
    }
    assert.deepEqual(alarms, [expected, 2 * expected, 3 * expected], JSON.stringify(options));
    assert.equal(cusum.state().detections, 3);
  }
  // ln 10⁹ / ln 80 = 4.73.
  assert.equal(queriesToAlarm({ p0: 0.01, ...OOD_RATE_DEFAULTS }), 5);
});

test("benign Bernoulli(p0) streams of 5,000 queries raise no alarm; a stream flagged at 50% does within 30", () => {
  const rng = createRng(2024);
  for (const p0 of [0.01, 0.05]) {
    for (let client = 0; client < 20; client++) {
      const cusum = createOodRateDetector({ p0 });
      for (let i = 0; i < 5000; i++) {
        const o = cusum.observe(rng.next() < p0);
        assert.equal(o.alarm, false, `p0 ${p0}, client ${client}, query ${i + 1}: statistic ${o.statistic}`);
      }
    }
  }
  const attacker = createOodRateDetector({ p0: 0.01 });
  let first = 0;
  for (let i = 1; i <= 1000 && !first; i++) if (attacker.observe(rng.next() < 0.5).alarm) first = i;
  assert.ok(first > 0 && first <= 30, `alarm at query ${first}`);
});

test("state() is a few numbers of JSON, and a restored detector continues where the old one stopped", () => {
  const a = createOodRateDetector({ p0: 0.02 });
  for (const flag of [true, false, true, true, false]) a.observe(flag);
  const state = JSON.parse(JSON.stringify(a.state()));
  assert.deepEqual(Object.keys(state).sort(), ["detections", "flagged", "queries", "statistic", "version"]);
  assert.ok(JSON.stringify(state).length < 120);
  const b = createOodRateDetector({ p0: 0.02 });
  b.restore(state);
  for (const flag of [true, true, false, true]) assert.deepEqual(b.observe(flag), a.observe(flag));
  assert.equal(b.state().queries, 9);
  assert.throws(
    () => b.restore({ ...state, statistic: "x" }),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_DATA",
  );
});

test("options outside their ranges are refused with a message that says what to use", () => {
  for (const options of [{ p0: 0 }, { p0: 1 }, { p0: 0.1, p1: 0.05 }, { p0: 0.1, p1: 1 }, { p0: 0.01, h: 0 }, { p0: Number.NaN }]) {
    assert.throws(
      () => createOodRateDetector(options),
      (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION",
      JSON.stringify(options),
    );
  }
});
