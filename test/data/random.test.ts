import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng } from "../../src/data/random.js";

test("the same seed gives the same stream, another seed a different one", () => {
  const a = createRng(7);
  const b = createRng(7);
  const c = createRng(8);
  const sa = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(
    sa,
    Array.from({ length: 5 }, () => b.next()),
  );
  assert.notDeepEqual(
    sa,
    Array.from({ length: 5 }, () => c.next()),
  );
});

test("next() is uniform in [0, 1)", () => {
  const rng = createRng(1);
  const bins = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const v = rng.next();
    assert.ok(v >= 0 && v < 1);
    const bin = Math.floor(v * 10);
    bins[bin] = (bins[bin] ?? 0) + 1;
  }
  for (const count of bins) assert.ok(Math.abs(count - 10_000) < 500, `bin count ${count}`);
});

test("normal() has mean 0 and variance 1", () => {
  const rng = createRng(2);
  const n = 100_000;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const z = rng.normal();
    assert.ok(Number.isFinite(z));
    sum += z;
    sumSq += z * z;
  }
  const mean = sum / n;
  assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
  assert.ok(Math.abs(sumSq / n - mean * mean - 1) < 0.03, `variance ${sumSq / n}`);
});

test("int(n) covers 0 .. n-1 and rejects a bad n", () => {
  const rng = createRng(3);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) seen.add(rng.int(6));
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5]);
  assert.throws(() => rng.int(0), RangeError);
  assert.throws(() => rng.int(2.5), RangeError);
});

test("shuffle() permutes in place, reproducibly, and every position is reachable", () => {
  const items = Array.from({ length: 20 }, (_, i) => i);
  const shuffled = createRng(4).shuffle([...items]);
  assert.deepEqual(
    [...shuffled].sort((p, q) => p - q),
    items,
  );
  assert.notDeepEqual(shuffled, items);
  assert.deepEqual(createRng(4).shuffle([...items]), shuffled);

  // Over many shuffles, element 0 lands in each of 4 positions about equally often.
  const rng = createRng(5);
  const where = [0, 0, 0, 0];
  for (let i = 0; i < 8000; i++) {
    const position = rng.shuffle([0, 1, 2, 3]).indexOf(0);
    where[position] = (where[position] ?? 0) + 1;
  }
  for (const count of where) assert.ok(Math.abs(count - 2000) < 200, `position count ${count}`);
});
