import { test } from "node:test";
import { attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const ints = (values: number[]) => ({ shape: [values.length], constant: BigInt64Array.from(values, (v) => BigInt(v)) });

test("Flatten at axis 0, 2 and -1", async () => {
  for (const axis of [0, 2, -1]) {
    await checkVjp({ opType: "Flatten", inputs: [{ shape: [2, 3, 2] }], attributes: { axis: attr.int(axis) } });
  }
});

test("Reshape with -1 and 0 in the target shape", async () => {
  await checkVjp({ opType: "Reshape", inputs: [{ shape: [2, 3, 4] }, ints([0, -1, 2])] });
  await checkVjp({ opType: "Reshape", inputs: [{ shape: [6] }, ints([3, 2])], opset: 11 });
});

test("Transpose with a permutation and with the default reversal", async () => {
  await checkVjp({ opType: "Transpose", inputs: [{ shape: [2, 3, 4] }], attributes: { perm: attr.ints([1, 2, 0]) } });
  await checkVjp({ opType: "Transpose", inputs: [{ shape: [2, 3, 4] }] });
});

test("Squeeze: axes attribute (opset 11), axes input (13), no axes", async () => {
  await checkVjp({ opType: "Squeeze", inputs: [{ shape: [2, 1, 3, 1] }], attributes: { axes: attr.ints([1, -1]) }, opset: 11 });
  await checkVjp({ opType: "Squeeze", inputs: [{ shape: [2, 1, 3, 1] }, ints([1])], opset: 13 });
  await checkVjp({ opType: "Squeeze", inputs: [{ shape: [1, 3, 1] }], opset: 13 });
});

test("Unsqueeze: axes attribute (opset 11), axes input (13, 21)", async () => {
  await checkVjp({ opType: "Unsqueeze", inputs: [{ shape: [2, 3] }], attributes: { axes: attr.ints([0, 3]) }, opset: 11 });
  await checkVjp({ opType: "Unsqueeze", inputs: [{ shape: [2, 3] }, ints([-1, 1])], opset: 13 });
  await checkVjp({ opType: "Unsqueeze", inputs: [{ shape: [2, 3] }, ints([0])], opset: 21 });
});
