/** Finite-difference checks of the elementwise arithmetic rules, with numpy broadcasting. */
import { test } from "node:test";
import { createRng } from "../../../src/data/random.js";
import { attr, DataType } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** N(0, scale²) values at least `margin` away from every kink in `kinks`. */
function awayFrom(shape: number[], kinks: number[], seed: number, margin = 0.05, scale = 1): number[] {
  const rng = createRng(seed);
  return Array.from({ length: count(shape) }, () => {
    let v: number;
    do v = rng.normal() * scale;
    while (kinks.some((k) => Math.abs(v - k) < margin));
    return v;
  });
}

/** Uniform values in [lo, hi), with a random sign when `signed`. */
function uniform(shape: number[], lo: number, hi: number, seed: number, signed = false): number[] {
  const rng = createRng(seed);
  return Array.from({ length: count(shape) }, () => (signed && rng.next() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rng.next()));
}

/** Shuffled multiples of 0.1 plus `offset`: operands with different offsets never come closer than the offsets' gap. */
function lattice(shape: number[], offset: number, seed: number): number[] {
  const n = count(shape);
  const values = Array.from({ length: n }, (_, i) => (i - Math.floor(n / 2)) * 0.1 + offset);
  return createRng(seed).shuffle(values);
}

// Shapes broadcast against [2, 3, 4]: trailing vector, middle column, scalar, and the reverse.
const BROADCAST: [number[], number[]][] = [
  [
    [2, 3, 4],
    [2, 3, 4],
  ],
  [[2, 3, 4], [4]],
  [
    [2, 3, 4],
    [3, 1],
  ],
  [[2, 3, 4], []],
  [
    [3, 1],
    [2, 1, 4],
  ],
];

test("Sub broadcasts and sums back", async () => {
  for (const [a, b] of BROADCAST) await checkVjp({ opType: "Sub", inputs: [{ shape: a }, { shape: b }] });
});

test("Div broadcasts; divisor away from 0", async () => {
  for (const [a, b] of BROADCAST) {
    await checkVjp({ opType: "Div", inputs: [{ shape: a }, { shape: b, data: uniform(b, 0.5, 2, 3, true) }] });
  }
});

test("Neg, Exp, Erf, Identity", async () => {
  await checkVjp({ opType: "Neg", inputs: [{ shape: [2, 3, 4] }] });
  await checkVjp({ opType: "Exp", inputs: [{ shape: [2, 3, 4] }] });
  await checkVjp({ opType: "Erf", inputs: [{ shape: [2, 3, 4] }] });
  await checkVjp({ opType: "Identity", inputs: [{ shape: [2, 3, 4] }] });
  await checkVjp({ opType: "Exp", inputs: [{ shape: [] }] });
});

test("Log and Sqrt on positive inputs", async () => {
  await checkVjp({ opType: "Log", inputs: [{ shape: [2, 3, 4], data: uniform([2, 3, 4], 0.3, 2, 5) }] });
  await checkVjp({ opType: "Sqrt", inputs: [{ shape: [2, 3, 4], data: uniform([2, 3, 4], 0.3, 2, 6) }] });
});

test("Abs away from 0", async () => {
  await checkVjp({ opType: "Abs", inputs: [{ shape: [2, 3, 4], data: awayFrom([2, 3, 4], [0], 7) }] });
});

test("Sum of one, two and three broadcast operands", async () => {
  await checkVjp({ opType: "Sum", inputs: [{ shape: [2, 3] }] });
  for (const [a, b] of BROADCAST) await checkVjp({ opType: "Sum", inputs: [{ shape: a }, { shape: b }] });
  await checkVjp({ opType: "Sum", inputs: [{ shape: [2, 3, 4] }, { shape: [4] }, { shape: [3, 1] }, { shape: [] }] });
});

test("Pow: base and exponent, positive bases, broadcasting", async () => {
  for (const [a, e] of BROADCAST) {
    await checkVjp({ opType: "Pow", inputs: [{ shape: a, data: uniform(a, 0.5, 2, 8) }, { shape: e }] });
  }
  // The base broadcast against the exponent.
  await checkVjp({ opType: "Pow", inputs: [{ shape: [4], data: uniform([4], 0.5, 2, 9) }, { shape: [2, 3, 4] }] });
});

test("Pow with a constant exponent: float scalar, integer scalar (signed base), constant base", async () => {
  await checkVjp({
    opType: "Pow",
    inputs: [
      { shape: [2, 3, 4], data: uniform([2, 3, 4], 0.5, 2, 10) },
      { shape: [], constant: Float32Array.of(2.5), dataType: DataType.FLOAT },
    ],
  });
  await checkVjp({
    opType: "Pow",
    inputs: [
      { shape: [2, 3, 4], data: uniform([2, 3, 4], 0.2, 1.5, 11, true) },
      { shape: [], constant: BigInt64Array.of(3n), dataType: DataType.INT64 },
    ],
  });
  await checkVjp({
    opType: "Pow",
    inputs: [{ shape: [4], constant: Float32Array.of(0.5, 1.5, 2, 3), dataType: DataType.FLOAT }, { shape: [3, 4] }],
  });
});

test("Max and Min of broadcast operands, away from ties", async () => {
  for (const op of ["Max", "Min"]) {
    for (const [a, b] of BROADCAST) {
      await checkVjp({
        opType: op,
        inputs: [
          { shape: a, data: lattice(a, 0, 12) },
          { shape: b, data: lattice(b, 0.05, 13) },
        ],
      });
    }
    await checkVjp({
      opType: op,
      inputs: [
        { shape: [2, 3, 4], data: lattice([2, 3, 4], 0, 14) },
        { shape: [4], data: lattice([4], 0.05, 15) },
        { shape: [3, 1], data: lattice([3, 1], 0.025, 16) },
      ],
    });
    await checkVjp({ opType: op, inputs: [{ shape: [2, 3] }] });
  }
});

test("Max and Min split ties in half between two operands (as PyTorch, and as central differences see it)", async () => {
  const x = lattice([2, 3], 0, 17);
  for (const op of ["Max", "Min"]) {
    await checkVjp({
      opType: op,
      inputs: [
        { shape: [2, 3], data: x },
        { shape: [2, 3], data: x },
      ],
    });
  }
});

const LO = -0.5;
const HI = 0.7;
const bound = (v: number) => ({ shape: [], constant: Float32Array.of(v), dataType: DataType.FLOAT });

test("Clip with both, only min and only max as inputs (opsets 11 and 17)", async () => {
  const x = { shape: [2, 3, 4], data: awayFrom([2, 3, 4], [LO, HI], 18) };
  for (const opset of [11, 17]) {
    await checkVjp({ opType: "Clip", opset, inputs: [x, bound(LO), bound(HI)] });
    await checkVjp({ opType: "Clip", opset, inputs: [x, bound(LO)] });
    await checkVjp({ opType: "Clip", opset, inputs: [x, null, bound(HI)] });
    await checkVjp({ opType: "Clip", opset, inputs: [x] });
  }
});

test("Clip gives gradients to bounds fed as inputs, also when min > max", async () => {
  const x = { shape: [2, 3, 4], data: awayFrom([2, 3, 4], [LO, HI], 19) };
  for (const opset of [11, 17]) {
    await checkVjp({ opType: "Clip", opset, inputs: [x, { shape: [], data: [LO] }, { shape: [], data: [HI] }] });
    await checkVjp({ opType: "Clip", opset, inputs: [x, { shape: [], data: [LO] }] });
    await checkVjp({ opType: "Clip", opset, inputs: [x, null, { shape: [], data: [HI] }] });
    // min > max: y = max everywhere.
    await checkVjp({ opType: "Clip", opset, inputs: [x, { shape: [], data: [HI] }, { shape: [], data: [LO] }] });
  }
});

test("Clip with min/max attributes (opset 10)", async () => {
  const x = { shape: [2, 3, 4], data: awayFrom([2, 3, 4], [LO, HI], 20) };
  await checkVjp({ opType: "Clip", opset: 10, inputs: [x], attributes: { min: attr.float(LO), max: attr.float(HI) } });
  await checkVjp({ opType: "Clip", opset: 10, inputs: [x], attributes: { min: attr.float(LO) } });
  await checkVjp({ opType: "Clip", opset: 10, inputs: [x], attributes: { max: attr.float(HI) } });
});
