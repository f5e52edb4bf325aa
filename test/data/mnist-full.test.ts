import assert from "node:assert/strict";
import { test } from "node:test";
import { loadDataset } from "../../src/data/dataset.js";
import { loadMnistFull } from "../../src/data/mnist-full.js";
import { labelsOf } from "../../src/tensor.js";

// Per-digit counts of LeCun's files, as every MNIST loader reports them.
const TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

test("full MNIST: MNIST's own 60,000/10,000 split, pixels in [0, 1], the known label counts", () => {
  for (const [split, counts, first] of [
    ["train", TRAIN_COUNTS, 5],
    ["test", TEST_COUNTS, 7],
  ] as const) {
    const { x, y } = loadMnistFull(split);
    const n = counts.reduce((a, c) => a + c, 0);
    assert.deepEqual([...x.shape], [n, 1, 28, 28]);
    const labels = labelsOf(y);
    assert.equal(labels[0], first, `the first ${split} digit`);
    assert.deepEqual(
      Array.from({ length: 10 }, (_, d) => labels.filter((l) => l === d).length),
      counts,
    );
    let [min, max] = [1, 0];
    for (const v of x.data) [min, max] = [Math.min(min, v), Math.max(max, v)];
    assert.deepEqual([min, max], [0, 1]);
  }
});

test('loadDataset("mnist-full") names its split and reads afresh', () => {
  const a = loadDataset("mnist-full", { split: "test" });
  assert.equal(a.name, "mnist-full-test");
  assert.equal(a.classNames?.length, 10);
  a.x.data[0] = 42;
  assert.equal(loadDataset("mnist-full", { split: "test" }).x.data[0], 0, "a caller's change does not reach the next load");
});
