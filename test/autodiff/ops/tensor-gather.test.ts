import { test } from "node:test";
import { createRng } from "../../../src/data/random.js";
import { attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const ints = (shape: number[], values: number[]) => ({ shape, constant: BigInt64Array.from(values, (v) => BigInt(v)) });

/** Distinct values at least 0.3 apart, shuffled, so a finite-difference step never reorders them. */
function distinct(n: number, seed: number): number[] {
  return createRng(seed).shuffle(Array.from({ length: n }, (_, i) => (i - n / 2) * 0.3));
}

test("TopK values, largest=1 and 0, on axis -1 and 0", async () => {
  for (const largest of [1, 0]) {
    for (const axis of [-1, 0]) {
      for (const opset of [11, 17]) {
        await checkVjp({
          opType: "TopK",
          inputs: [{ shape: [4, 5], data: distinct(20, 3 + axis + largest) }, ints([1], [3])],
          attributes: { axis: attr.int(axis), largest: attr.int(largest) },
          outputs: 2,
          opset,
        });
      }
    }
  }
});

test("TopK with the default axis on rank 3, unsorted", async () => {
  await checkVjp({
    opType: "TopK",
    inputs: [{ shape: [2, 2, 4], data: distinct(16, 9) }, ints([1], [2])],
    attributes: { sorted: attr.int(0) },
    outputs: 2,
  });
});

// Repeated and negative indices: a data element gathered twice collects both gradients.
const indices = ints([2, 3], [0, -1, 1, 2, 2, 0]);

test("GatherElements with repeated and negative indices, scatter-add form (opset 16+)", async () => {
  await checkVjp({ opType: "GatherElements", inputs: [{ shape: [3, 3] }, indices], attributes: { axis: attr.int(0) }, opset: 16 });
  await checkVjp({ opType: "GatherElements", inputs: [{ shape: [2, 3] }, indices], attributes: { axis: attr.int(-1) }, opset: 18 });
});

test("GatherElements with repeated and negative indices, one-hot form (opset 11, 13)", async () => {
  await checkVjp({ opType: "GatherElements", inputs: [{ shape: [3, 3] }, indices], attributes: { axis: attr.int(0) }, opset: 11 });
  await checkVjp({ opType: "GatherElements", inputs: [{ shape: [2, 3] }, indices], attributes: { axis: attr.int(1) }, opset: 13 });
});

test("GatherElements with indices shorter than data on the other axes", async () => {
  const short = ints([2, 2, 1], [1, 0, 3, 3]);
  for (const opset of [13, 17]) {
    await checkVjp({ opType: "GatherElements", inputs: [{ shape: [3, 4, 2] }, short], attributes: { axis: attr.int(1) }, opset });
  }
});

test("TopK and GatherElements at the newest opset (21)", async () => {
  await checkVjp({ opType: "TopK", inputs: [{ shape: [3, 4], data: distinct(12, 5) }, ints([1], [2])], outputs: 2, opset: 21 });
  await checkVjp({ opType: "GatherElements", inputs: [{ shape: [3, 3] }, indices], attributes: { axis: attr.int(1) }, opset: 21 });
});
