import { test } from "node:test";
import { DataType } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const ints = (values: number[]) => ({ shape: [values.length], constant: BigInt64Array.from(values, (v) => BigInt(v)) });
const bools = (shape: number[], values: number[]) => ({ shape, constant: Uint8Array.from(values), dataType: DataType.BOOL });

test("Expand from [3,1] to [2,3,4]", async () => {
  await checkVjp({ opType: "Expand", inputs: [{ shape: [3, 1] }, ints([2, 3, 4])] });
  await checkVjp({ opType: "Expand", inputs: [{ shape: [3, 1] }, ints([2, 3, 4])], opset: 11 });
});

test("Expand with a shape of lower rank and ones (output keeps X's dims)", async () => {
  await checkVjp({ opType: "Expand", inputs: [{ shape: [2, 1, 3] }, ints([1, 3])] });
  await checkVjp({ opType: "Expand", inputs: [{ shape: [2, 3] }, ints([1, 1])] });
});

test("Tile with repeats [2,1,3]", async () => {
  await checkVjp({ opType: "Tile", inputs: [{ shape: [2, 3, 2] }, ints([2, 1, 3])] });
  await checkVjp({ opType: "Tile", inputs: [{ shape: [2, 3, 2] }, ints([2, 1, 3])], opset: 11 });
  await checkVjp({ opType: "Tile", inputs: [{ shape: [2, 3] }, ints([1, 1])] });
});

test("Where with a broadcasting condition", async () => {
  // Condition [3,1] against X [2,3,4] and Y [4].
  await checkVjp({ opType: "Where", inputs: [bools([3, 1], [1, 0, 1]), { shape: [2, 3, 4] }, { shape: [4] }] });
  // Condition [2,1,4] against X [3,1] and Y [1,3,4]: every operand broadcast.
  await checkVjp({ opType: "Where", inputs: [bools([2, 1, 4], [1, 0, 0, 1, 0, 1, 1, 0]), { shape: [3, 1] }, { shape: [1, 3, 4] }], opset: 11 });
  // Only Y differentiated.
  await checkVjp({ opType: "Where", inputs: [bools([2, 3], [0, 1, 1, 0, 1, 0]), { shape: [2, 3], grad: false }, { shape: [2, 3] }] });
});
