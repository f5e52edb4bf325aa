import { test } from "node:test";
import { attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const ints = (values: number[]) => ({ shape: [values.length], constant: BigInt64Array.from(values, (v) => BigInt(v)) });

test("Concat of 3 inputs on axis 1, some not differentiated", async () => {
  const shapes = [
    [2, 1, 3],
    [2, 4, 3],
    [2, 2, 3],
  ];
  await checkVjp({ opType: "Concat", inputs: shapes.map((shape) => ({ shape })), attributes: { axis: attr.int(1) } });
  await checkVjp({ opType: "Concat", inputs: shapes.map((shape, i) => ({ shape, grad: i !== 1 })), attributes: { axis: attr.int(1) } });
  await checkVjp({ opType: "Concat", inputs: shapes.map((shape, i) => ({ shape, grad: i === 1 })), attributes: { axis: attr.int(-2) }, opset: 11 });
});

test("Concat of one input", async () => {
  await checkVjp({ opType: "Concat", inputs: [{ shape: [2, 3] }], attributes: { axis: attr.int(0) } });
});

test("Split with sizes as attribute (opset 11), unequal", async () => {
  await checkVjp({ opType: "Split", inputs: [{ shape: [2, 6] }], attributes: { axis: attr.int(1), split: attr.ints([1, 3, 2]) }, outputs: 3, opset: 11 });
  await checkVjp({ opType: "Split", inputs: [{ shape: [4, 3] }], outputs: 2, opset: 11 });
});

test("Split with sizes as input (opset 13), unequal, negative axis", async () => {
  await checkVjp({ opType: "Split", inputs: [{ shape: [3, 5] }, ints([4, 1])], attributes: { axis: attr.int(-1) }, outputs: 2, opset: 13 });
  await checkVjp({ opType: "Split", inputs: [{ shape: [6, 2] }], outputs: 3, opset: 13 });
});

test("Split with num_outputs (opset 18), uneven last piece", async () => {
  await checkVjp({ opType: "Split", inputs: [{ shape: [7, 2] }], attributes: { num_outputs: attr.int(3) }, outputs: 3, opset: 18 });
});

test("Split with only some outputs feeding the loss", async () => {
  await checkVjp({
    opType: "Split",
    inputs: [{ shape: [2, 6] }],
    attributes: { axis: attr.int(1), split: attr.ints([1, 3, 2]) },
    outputs: 3,
    opset: 11,
    lossOutputs: [1],
  });
  await checkVjp({ opType: "Split", inputs: [{ shape: [5, 2] }, ints([2, 1, 2])], outputs: 3, opset: 13, lossOutputs: [0, 2] });
  await checkVjp({
    opType: "Split",
    inputs: [{ shape: [2, 7] }],
    attributes: { axis: attr.int(1), num_outputs: attr.int(3) },
    outputs: 3,
    opset: 18,
    lossOutputs: [2],
  });
});
