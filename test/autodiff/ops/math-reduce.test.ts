/** Finite-difference checks of ReduceSum, ReduceMean, ReduceMax, ReduceL2, ReduceSumSquare and ReduceLogSumExp with axes as attribute or input. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng } from "../../../src/data/random.js";
import { AegisError } from "../../../src/errors.js";
import { type Attribute, attr } from "../../../src/onnx/ir.js";
import { checkVjp, type FdInput } from "../../helpers/fd.js";

const SHAPE = [2, 3, 4];
/** Opset from which each op takes axes as an input. */
const AXES_INPUT_SINCE: Record<string, number> = { ReduceSum: 13, ReduceMean: 18, ReduceMax: 18, ReduceL2: 18, ReduceSumSquare: 18, ReduceLogSumExp: 18 };
const AXES_SETS: (number[] | undefined)[] = [[1], [0, 2], [-1], [2, 0, 1], undefined];

/** Distinct values 0.1 apart, shuffled, so a maximum is never within the step of another element. */
function distinct(n: number, seed: number): number[] {
  return createRng(seed).shuffle(Array.from({ length: n }, (_, i) => (i - Math.floor(n / 2)) * 0.1));
}

/** The node's inputs and attributes for `axes` in the form the opset wants. */
function reduceCase(opType: string, opset: number, axes: number[] | undefined, keepdims: number, extra: Record<string, Attribute> = {}) {
  const x: FdInput = { shape: SHAPE, data: distinct(24, opset + keepdims + (axes?.length ?? 0)) };
  const attributes: Record<string, Attribute> = { keepdims: attr.int(keepdims), ...extra };
  const inputs: FdInput[] = [x];
  if (axes !== undefined) {
    if (opset >= AXES_INPUT_SINCE[opType]) inputs.push({ shape: [axes.length], constant: BigInt64Array.from(axes.map(BigInt)) });
    else attributes.axes = attr.ints(axes);
  }
  return { opType, opset, inputs, attributes };
}

for (const opType of ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"]) {
  test(`${opType} with keepdims 0 and 1 over several axes sets, at opsets 11, 13 and 18`, async () => {
    for (const opset of [11, 13, 18]) {
      for (const keepdims of [0, 1]) {
        for (const axes of AXES_SETS) await checkVjp(reduceCase(opType, opset, axes, keepdims));
      }
    }
  });

  if (!["ReduceSum", "ReduceMean", "ReduceMax"].includes(opType)) continue;
  test(`${opType} with noop_with_empty_axes (opset 18): identity without axes, a reduction with them`, async () => {
    const noop = { noop_with_empty_axes: attr.int(1) };
    await checkVjp(reduceCase(opType, 18, undefined, 0, noop));
    await checkVjp(reduceCase(opType, 18, [1], 0, noop));
  });
}

test("ReduceSum on a rank-1 and a rank-0 input", async () => {
  await checkVjp({ opType: "ReduceSum", opset: 13, inputs: [{ shape: [5] }], attributes: { keepdims: attr.int(0) } });
  await checkVjp({ opType: "ReduceSum", opset: 13, inputs: [{ shape: [] }] });
});

test("ReduceMax splits the gradient between two tied maxima (as torch.amax, and as central differences see it)", async () => {
  // Each row of 4 has its maximum twice.
  const rows = [
    [0.3, 0.9, -0.2, 0.9],
    [1.5, -0.4, 1.5, 0.1],
    [-0.6, -0.1, -0.8, -0.1],
  ];
  for (const opset of [13, 18]) {
    for (const keepdims of [0, 1]) {
      const c = reduceCase("ReduceMax", opset, [1], keepdims);
      c.inputs[0] = { shape: [3, 4], data: rows.flat() };
      await checkVjp(c);
    }
  }
});

test("ReduceL2 of an all-zero slice has gradient 0 there (as torch.linalg.vector_norm), and noop_with_empty_axes without axes is refused", async () => {
  const x = [0, 0, 0, 0.5, -1, 2];
  const r = await checkVjp({ opType: "ReduceL2", opset: 13, inputs: [{ shape: [2, 3], data: x }], attributes: { axes: attr.ints([1]) }, h: 1e-3, atol: 2e-3 });
  assert.ok(r.checked === 6);
  await assert.rejects(
    checkVjp({ opType: "ReduceL2", opset: 18, inputs: [{ shape: [2, 3] }], attributes: { noop_with_empty_axes: attr.int(1) } }),
    (e: unknown) => e instanceof AegisError && e.message.includes("noop_with_empty_axes"),
  );
});
