/**
 * Finite-difference checks of the LSTM, GRU and RNN rules: every input that carries a
 * gradient (X, W, R, B, initial states), every output in the loss (Y, Y_h, Y_c), forward,
 * reverse and bidirectional, and the activations exporters use. (Layout 1, batch first,
 * is refused: ONNX Runtime does not run it, so no model that uses it loads.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AegisError } from "../../../src/errors.js";
import { type Attribute, attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const T = 3;
const B = 2;
const I = 3;
const H = 2;

/** The inputs of a recurrent node with G gates: X, W, R, B, sequence_lens (none), initial states. */
function inputs(gates: number, dirs: number, states: number, options: { bias?: boolean; initial?: boolean } = {}) {
  const x = { shape: [T, B, I] };
  const state = { shape: [dirs, B, H] };
  const small = (shape: number[], seed: number) => ({
    shape,
    data: Array.from({ length: shape.reduce((a, c) => a * c, 1) }, (_, i) => Math.sin(seed * 7.3 + i * 1.7) * 0.6),
  });
  return [
    x,
    small([dirs, gates * H, I], 1),
    small([dirs, gates * H, H], 2),
    options.bias === false ? null : small([dirs, 2 * gates * H], 3),
    null,
    ...(options.initial === false ? [] : Array.from({ length: states }, () => state)),
  ];
}

const attributes = (direction: string, extra: Record<string, Attribute> = {}) => ({
  hidden_size: attr.int(H),
  direction: attr.string(direction),
  ...extra,
});

test("LSTM forward, reverse and bidirectional, with initial states: gradients of X, W, R, B, h0 and c0 through Y, Y_h and Y_c", async () => {
  for (const [direction, dirs] of [
    ["forward", 1],
    ["reverse", 1],
    ["bidirectional", 2],
  ] as const) {
    await checkVjp({ opType: "LSTM", inputs: inputs(4, dirs, 2), attributes: attributes(direction), outputs: 3, opset: 14 });
  }
});

test("LSTM without bias or initial states, with only Y_h in the loss, at opset 11", async () => {
  await checkVjp({
    opType: "LSTM",
    inputs: inputs(4, 2, 0, { bias: false, initial: false }),
    attributes: attributes("bidirectional"),
    outputs: 3,
    lossOutputs: [1],
    opset: 11,
  });
});

test("GRU with linear_before_reset 1 (torch) and 0 (the ONNX default), bidirectional and reverse", async () => {
  for (const lbr of [1, 0]) {
    for (const [direction, dirs] of [
      ["bidirectional", 2],
      ["reverse", 1],
    ] as const) {
      await checkVjp({
        opType: "GRU",
        inputs: inputs(3, dirs, 1),
        attributes: attributes(direction, { linear_before_reset: attr.int(lbr) }),
        outputs: 2,
        opset: 14,
      });
    }
  }
});

test("RNN with tanh (default), relu and sigmoid, bidirectional, with and without an initial state", async () => {
  for (const activation of ["Tanh", "Relu", "Sigmoid"]) {
    await checkVjp({
      opType: "RNN",
      inputs: inputs(1, 2, 1),
      attributes: attributes("bidirectional", { activations: attr.strings([activation, activation]) }),
      outputs: 2,
      opset: 14,
    });
  }
  await checkVjp({ opType: "RNN", inputs: inputs(1, 1, 1, { initial: false }), attributes: attributes("forward"), outputs: 2, opset: 14 });
});

test("recurrent attributes a rule cannot handle are named", async () => {
  const refused = async (opType: string, gates: number, extra: Record<string, Attribute>, what: string) =>
    assert.rejects(
      checkVjp({ opType, inputs: inputs(gates, 1, opType === "LSTM" ? 2 : 1), attributes: attributes("forward", extra), outputs: 2, opset: 14 }),
      (e: unknown) => {
        assert.ok(e instanceof AegisError);
        assert.ok(e.message.includes(what), e.message);
        return true;
      },
    );
  await refused("LSTM", 4, { clip: attr.float(1) }, "clip");
  await refused("LSTM", 4, { input_forget: attr.int(1) }, "input_forget");
  await refused("GRU", 3, { activations: attr.strings(["HardSigmoid", "Tanh"]) }, "activations HardSigmoid, Tanh");
});
