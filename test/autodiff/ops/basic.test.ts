import { test } from "node:test";
import { attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

test("Add broadcasts and sums back", async () => {
  await checkVjp({ opType: "Add", inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }] });
  await checkVjp({ opType: "Add", inputs: [{ shape: [4] }, { shape: [2, 1, 4] }] });
});

test("Mul broadcasts", async () => {
  await checkVjp({ opType: "Mul", inputs: [{ shape: [2, 3] }, { shape: [1, 3] }] });
});

test("Relu", async () => {
  await checkVjp({ opType: "Relu", inputs: [{ shape: [3, 5], data: Array.from({ length: 15 }, (_, i) => (i % 2 ? 1 : -1) * (0.1 + i / 10)) }] });
});

test("Gemm with every transpose flag and a broadcast bias", async () => {
  for (const [ta, tb] of [
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1],
  ]) {
    await checkVjp({
      opType: "Gemm",
      inputs: [{ shape: ta ? [4, 3] : [3, 4] }, { shape: tb ? [5, 4] : [4, 5] }, { shape: [5] }],
      attributes: { transA: attr.int(ta), transB: attr.int(tb), alpha: attr.float(0.7), beta: attr.float(1.3) },
    });
  }
});
