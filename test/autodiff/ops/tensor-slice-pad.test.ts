import assert from "node:assert/strict";
import { test } from "node:test";
import { AegisError } from "../../../src/errors.js";
import { attr, DataType } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const ints = (values: (number | bigint)[]) => ({ shape: [values.length], constant: BigInt64Array.from(values, (v) => BigInt(v)) });
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

test("Slice with unit steps, axes omitted", async () => {
  await checkVjp({ opType: "Slice", inputs: [{ shape: [4, 5] }, ints([1, 0]), ints([3, 4])] });
});

test("Slice with negative and overflowing starts and ends, negative axes", async () => {
  await checkVjp({ opType: "Slice", inputs: [{ shape: [3, 6] }, ints([-4]), ints([INT64_MAX]), ints([-1])] });
  await checkVjp({ opType: "Slice", inputs: [{ shape: [3, 6] }, ints([-100, 1]), ints([-1, 100]), ints([1, 0])], opset: 11 });
});

test("Slice with negative steps and steps > 1", async () => {
  // Reverse a whole axis.
  await checkVjp({ opType: "Slice", inputs: [{ shape: [3, 5] }, ints([-1]), ints([INT64_MIN]), ints([1]), ints([-1])] });
  // Steps -2 and 2 on two axes, one start past the end.
  await checkVjp({ opType: "Slice", inputs: [{ shape: [5, 7, 2] }, ints([10, 1]), ints([0, 6]), ints([1, 0]), ints([-2, 2])], opset: 13 });
  // Mixed: step 1 on one axis, step 3 on another.
  await checkVjp({ opType: "Slice", inputs: [{ shape: [4, 8] }, ints([1, 1]), ints([3, 8]), ints([0, -1]), ints([1, 3])] });
});

test("Slice with int32 starts and ends", async () => {
  const i32 = (values: number[]) => ({ shape: [values.length], constant: Int32Array.from(values), dataType: DataType.INT32 });
  await checkVjp({ opType: "Slice", inputs: [{ shape: [6, 2] }, i32([5]), i32([0]), i32([0]), i32([-2])] });
});

test("Pad, constant mode, asymmetric pads (opset 11) and a learnt padding value", async () => {
  await checkVjp({ opType: "Pad", inputs: [{ shape: [2, 3] }, ints([1, 0, 2, 3])], opset: 11 });
  await checkVjp({
    opType: "Pad",
    inputs: [{ shape: [2, 3, 2] }, ints([0, 2, 1, 1, 0, 0]), { shape: [] }],
    attributes: { mode: attr.string("constant") },
    opset: 13,
  });
});

test("Pad with negative pads (cropping)", async () => {
  await checkVjp({ opType: "Pad", inputs: [{ shape: [3, 4] }, ints([-1, 2, 1, -2]), { shape: [] }] });
});

test("Pad with an axes input (opset 18)", async () => {
  await checkVjp({ opType: "Pad", inputs: [{ shape: [2, 3, 2] }, ints([1, 0, 2, 1]), null, ints([-1, 0])], opset: 18 });
});

test("Slice and Pad at the newest opset (21)", async () => {
  await checkVjp({ opType: "Slice", inputs: [{ shape: [5, 4] }, ints([-1, 0]), ints([INT64_MIN, 3]), ints([0, 1]), ints([-2, 1])], opset: 21 });
  await checkVjp({ opType: "Pad", inputs: [{ shape: [2, 3] }, ints([2, 1]), { shape: [] }, ints([1])], opset: 21 });
});

test("Pad in reflect or edge mode says it is unsupported", async () => {
  for (const mode of ["reflect", "edge"]) {
    await assert.rejects(
      checkVjp({ opType: "Pad", inputs: [{ shape: [3, 4] }, ints([1, 1, 1, 1])], attributes: { mode: attr.string(mode) } }),
      (e: unknown) => e instanceof AegisError && e.code === "NOT_DIFFERENTIABLE" && e.message.includes(`mode "${mode}"`),
    );
  }
});
