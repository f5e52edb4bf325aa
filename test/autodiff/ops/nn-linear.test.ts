import assert from "node:assert/strict";
import { test } from "node:test";
import { attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const matmul = (a: number[], b: number[], opset = 17) => checkVjp({ opType: "MatMul", inputs: [{ shape: a }, { shape: b }], opset });

test("MatMul 2-D, and N-D times a 2-D weight (one Gemm per gradient)", async () => {
  await matmul([3, 4], [4, 5]);
  await matmul([2, 3, 4], [4, 2]);
  await matmul([2, 2, 3, 4], [4, 3], 11);
});

test("MatMul batched with broadcasting on either side", async () => {
  await matmul([2, 3, 4], [2, 4, 5]);
  await matmul([3, 4], [2, 4, 5]);
  await matmul([2, 1, 3, 4], [3, 4, 2]);
  await matmul([1, 3, 4], [2, 4, 2], 13);
});

test("MatMul with 1-D operands, as numpy", async () => {
  await matmul([4], [4, 3]);
  await matmul([3, 4], [4]);
  await matmul([4], [4]);
  await matmul([4], [2, 4, 3]);
  await matmul([2, 3, 4], [4]);
});

const ints = (shape: number[], values: number[]) => ({ shape, constant: BigInt64Array.from(values, (v) => BigInt(v)) });

test("Gather with repeated and negative indices on axis 0 (embedding) and axis 1, at opsets 11, 13, 16 and 18", async () => {
  for (const opset of [11, 13, 16, 18]) {
    await checkVjp({ opType: "Gather", inputs: [{ shape: [5, 3] }, ints([2, 3], [1, 4, 1, -1, 0, 1])], opset });
    await checkVjp({ opType: "Gather", inputs: [{ shape: [2, 4, 3] }, ints([5], [3, 0, 3, -4, 2])], attributes: { axis: attr.int(1) }, opset });
    await checkVjp({ opType: "Gather", inputs: [{ shape: [2, 3, 4] }, ints([2, 2], [1, 1, 3, -1])], attributes: { axis: attr.int(-1) }, opset });
  }
});

test("Gather with a scalar index and with int32 indices", async () => {
  for (const opset of [13, 17]) {
    await checkVjp({ opType: "Gather", inputs: [{ shape: [4, 3] }, ints([], [2])], opset });
    await checkVjp({ opType: "Gather", inputs: [{ shape: [4, 3] }, { shape: [3], constant: Int32Array.of(3, 3, 0), dataType: 6 }], opset });
  }
});

test("BatchNormalization (inference) gradients for X, scale, B, mean and var, at opsets 11 and 15", async () => {
  for (const opset of [11, 15]) {
    for (const shape of [
      [2, 3, 4, 5],
      [4, 3],
      [2, 3, 5],
    ]) {
      const c = shape[1];
      await checkVjp({
        opType: "BatchNormalization",
        inputs: [{ shape }, { shape: [c] }, { shape: [c] }, { shape: [c] }, { shape: [c], data: [0.5, 1.2, 2.0] }],
        attributes: { epsilon: attr.float(1e-3) },
        opset,
      });
    }
  }
});

test("BatchNormalization in training mode (batch statistics): gradients for X, scale and B, at opsets 11 and 15", async () => {
  for (const opset of [11, 15]) {
    for (const shape of [
      [3, 2, 3, 2],
      [5, 3],
      [2, 2, 4],
    ]) {
      const c = shape[1];
      await checkVjp({
        opType: "BatchNormalization",
        inputs: [{ shape }, { shape: [c] }, { shape: [c] }, { shape: [c], grad: false }, { shape: [c], data: [0.5, 1.2, 2.0].slice(0, c), grad: false }],
        attributes: { epsilon: attr.float(1e-3), ...(opset >= 14 ? { training_mode: attr.int(1) } : {}) },
        outputs: opset >= 14 ? 3 : 5,
        lossOutputs: [0],
        opset,
      });
    }
  }
});

test("BatchNormalization in training mode refuses a gradient through its running statistics", async () => {
  await assert.rejects(
    checkVjp({
      opType: "BatchNormalization",
      inputs: [{ shape: [4, 2] }, { shape: [2] }, { shape: [2] }, { shape: [2], grad: false }, { shape: [2], data: [1, 2], grad: false }],
      attributes: { training_mode: attr.int(1) },
      outputs: 3,
      lossOutputs: [0, 1],
      opset: 15,
    }),
    /running-statistic outputs/,
  );
});

test("LayerNormalization on axis -1 and -2, with and without bias, broadcast scale", async () => {
  await checkVjp({ opType: "LayerNormalization", inputs: [{ shape: [2, 3, 5] }, { shape: [5] }, { shape: [5] }], attributes: { axis: attr.int(-1) } });
  await checkVjp({
    opType: "LayerNormalization",
    inputs: [{ shape: [2, 3, 4] }, { shape: [3, 4] }],
    attributes: { axis: attr.int(-2), epsilon: attr.float(1e-3) },
  });
  await checkVjp({ opType: "LayerNormalization", inputs: [{ shape: [3, 4] }, { shape: [4] }, { shape: [4] }], opset: 18 });
});

test("LayerNormalization with its Mean and InvStdDev outputs in the loss", async () => {
  await checkVjp({ opType: "LayerNormalization", inputs: [{ shape: [2, 3, 4] }, { shape: [4] }, { shape: [4] }], outputs: 3 });
  await checkVjp({ opType: "LayerNormalization", inputs: [{ shape: [3, 5] }, { shape: [5] }], outputs: 3, lossOutputs: [1] });
  await checkVjp({
    opType: "LayerNormalization",
    inputs: [{ shape: [3, 5] }, { shape: [5] }],
    outputs: 3,
    lossOutputs: [2],
    attributes: { axis: attr.int(0) },
  });
});

test("InstanceNormalization 2-D and 1-D, explicit statistics at opsets 11/13, LayerNormalization at 17", async () => {
  for (const opset of [11, 13, 17]) {
    await checkVjp({
      opType: "InstanceNormalization",
      inputs: [{ shape: [2, 3, 3, 4] }, { shape: [3] }, { shape: [3] }],
      attributes: { epsilon: attr.float(1e-3) },
      opset,
    });
    await checkVjp({ opType: "InstanceNormalization", inputs: [{ shape: [2, 2, 6] }, { shape: [2] }, { shape: [2] }], opset });
  }
});
