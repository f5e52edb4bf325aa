/** Finite-difference checks of the activation and softmax rules. */
import { test } from "node:test";
import { createRng } from "../../../src/data/random.js";
import { attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** N(0, scale²) values at least `margin` away from every kink in `kinks`. */
function awayFrom(shape: number[], kinks: number[], seed: number, scale = 1, margin = 0.05): number[] {
  const rng = createRng(seed);
  return Array.from({ length: count(shape) }, () => {
    let v: number;
    do v = rng.normal() * scale;
    while (kinks.some((k) => Math.abs(v - k) < margin));
    return v;
  });
}

const SHAPE = [2, 3, 4];

test("Sigmoid, Tanh, Softplus", async () => {
  for (const opType of ["Sigmoid", "Tanh", "Softplus"]) {
    await checkVjp({ opType, inputs: [{ shape: SHAPE, data: awayFrom(SHAPE, [], 1, 2) }] });
  }
});

test("LeakyRelu, Elu, Selu with default and explicit attributes, away from 0", async () => {
  const x = { shape: SHAPE, data: awayFrom(SHAPE, [0], 2, 1.5) };
  await checkVjp({ opType: "LeakyRelu", inputs: [x] });
  await checkVjp({ opType: "LeakyRelu", inputs: [x], attributes: { alpha: attr.float(0.3) } });
  await checkVjp({ opType: "Elu", inputs: [x] });
  await checkVjp({ opType: "Elu", inputs: [x], attributes: { alpha: attr.float(0.5) } });
  await checkVjp({ opType: "Selu", inputs: [x] });
  await checkVjp({ opType: "Selu", inputs: [x], attributes: { alpha: attr.float(1.2), gamma: attr.float(0.8) } });
});

test("HardSigmoid in and out of its linear part, away from its corners", async () => {
  // Corners at (0 − beta)/alpha and (1 − beta)/alpha.
  await checkVjp({ opType: "HardSigmoid", inputs: [{ shape: SHAPE, data: awayFrom(SHAPE, [-2.5, 2.5], 3, 3) }] });
  await checkVjp({
    opType: "HardSigmoid",
    inputs: [{ shape: SHAPE, data: awayFrom(SHAPE, [-1.2, 0.8], 4, 1.5) }],
    attributes: { alpha: attr.float(0.5), beta: attr.float(0.6) },
  });
});

test("Gelu, exact and tanh approximation (opset 20)", async () => {
  const x = { shape: SHAPE, data: awayFrom(SHAPE, [], 5, 2) };
  await checkVjp({ opType: "Gelu", opset: 20, inputs: [x] });
  await checkVjp({ opType: "Gelu", opset: 20, inputs: [x], attributes: { approximate: attr.string("none") } });
  await checkVjp({ opType: "Gelu", opset: 20, inputs: [x], attributes: { approximate: attr.string("tanh") } });
});

test("Softmax and LogSoftmax over axis 0, 1, 2, −1 and the default, at opsets 11 and 13", async () => {
  for (const opType of ["Softmax", "LogSoftmax"]) {
    for (const opset of [11, 13]) {
      for (const axis of [0, 1, 2, -1, undefined]) {
        await checkVjp({
          opType,
          opset,
          inputs: [{ shape: SHAPE }],
          attributes: axis === undefined ? {} : { axis: attr.int(axis) },
          seed: 10 + (axis ?? 7),
        });
      }
    }
  }
});

test("HardSwish on both flat parts and the curved middle, away from ±3, at opsets 14 and 18", async () => {
  const x = { shape: SHAPE, data: awayFrom(SHAPE, [-3, 3], 4, 3) };
  await checkVjp({ opType: "HardSwish", inputs: [x], opset: 14 });
  await checkVjp({ opType: "HardSwish", inputs: [x], opset: 18 });
});

test("Mish (opset 18) and Celu with the default and an explicit alpha, away from Celu's kink", async () => {
  await checkVjp({ opType: "Mish", inputs: [{ shape: SHAPE, data: awayFrom(SHAPE, [], 5, 2) }], opset: 18 });
  const x = { shape: SHAPE, data: awayFrom(SHAPE, [0], 6, 2) };
  await checkVjp({ opType: "Celu", inputs: [x], opset: 12 });
  await checkVjp({ opType: "Celu", inputs: [x], attributes: { alpha: attr.float(0.5) } });
});

test("Sin, Cos, Softsign, and Reciprocal away from 0", async () => {
  for (const opType of ["Sin", "Cos", "Softsign"]) await checkVjp({ opType, inputs: [{ shape: SHAPE, data: awayFrom(SHAPE, [0], 7, 2) }] });
  const x = awayFrom(SHAPE, [], 8).map((v) => Math.sign(v || 1) * (0.5 + Math.abs(v)));
  await checkVjp({ opType: "Reciprocal", inputs: [{ shape: SHAPE, data: x }], h: 1e-3 });
});

test("PRelu with a per-channel slope [C, 1, 1] (torch's nn.PReLU), a scalar slope and a full one, away from 0", async () => {
  const x = { shape: [2, 3, 2, 2], data: awayFrom([2, 3, 2, 2], [0], 9) };
  await checkVjp({ opType: "PRelu", inputs: [x, { shape: [3, 1, 1] }] });
  await checkVjp({ opType: "PRelu", inputs: [x, { shape: [1] }], opset: 11 });
  await checkVjp({ opType: "PRelu", inputs: [x, { shape: [2, 3, 2, 2] }] });
});
