/** Finite-difference checks of Cast and Dropout, and the refusals they make loudly. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { attr, DataType } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

test("Cast float → double casts the gradient back; float → float is the identity", async () => {
  await checkVjp({ opType: "Cast", inputs: [{ shape: [2, 3, 4] }], attributes: { to: attr.int(DataType.DOUBLE) } });
  await checkVjp({ opType: "Cast", inputs: [{ shape: [2, 3, 4] }], attributes: { to: attr.int(DataType.FLOAT) } });
});

test("Cast to an integer type carries no gradient", async () => {
  const r = await checkVjp({ opType: "Cast", inputs: [{ shape: [2, 3] }], attributes: { to: attr.int(DataType.INT64) } });
  assert.equal(r.maxError, 0);
});

test("Dropout in inference is the identity (opset 11 ratio attribute, opset 13 constant inputs)", async () => {
  await checkVjp({ opType: "Dropout", opset: 11, inputs: [{ shape: [2, 3, 4] }], attributes: { ratio: attr.float(0.3) }, outputs: 2 });
  await checkVjp({ opType: "Dropout", opset: 13, inputs: [{ shape: [2, 3, 4] }] });
  await checkVjp({
    opType: "Dropout",
    opset: 13,
    inputs: [
      { shape: [2, 3, 4] },
      { shape: [], constant: Float32Array.of(0.3), dataType: DataType.FLOAT },
      { shape: [], constant: Uint8Array.of(0), dataType: DataType.BOOL },
    ],
    outputs: 2,
  });
});

test("Dropout in training mode is refused by name", async () => {
  await assert.rejects(
    checkVjp({
      opType: "Dropout",
      opset: 13,
      inputs: [
        { shape: [2, 3] },
        { shape: [], constant: Float32Array.of(0.3), dataType: DataType.FLOAT },
        { shape: [], constant: Uint8Array.of(1), dataType: DataType.BOOL },
      ],
      outputs: 2,
    }),
    /no gradient for Dropout node "op" with a training_mode input that is not a constant false/,
  );
});
