/**
 * Back-propagation through time shared by the LSTM, GRU and RNN rules. Not a rule itself.
 *
 * The sequence length is static (the shape probe saw it), so the backward pass is unrolled:
 * per direction, the forward recurrence is recomputed step by step from the node's inputs
 * (the node itself outputs only the hidden states, not the gates), then walked back from
 * the last step processed to the first. What a cell does at one step lives in the op's file
 * (a `Cell`); this file does what every recurrent op shares:
 *   - per direction d, W[d], R[d] and B[d] = [Wb, Rb] are sliced out; the reverse direction
 *     processes t = T−1 … 0;
 *   - the input projection x_t·Wᵀ + Wb of every step is one MatMul, and so is its gradient:
 *     with a_t = ∂L/∂(x_t·Wᵀ + Wb) stacked over t, dX = a·W, dW = Σ_t a_tᵀ·x_t, dWb = Σ a_t;
 *   - each cell multiplies R by one or more blocks of rows (pre_k = in_k·R_kᵀ + Rb_k), and
 *     dR_k = Σ_t dpre_kᵀ·in_k, dRb_k = Σ dpre_k, each one MatMul over the stacked steps;
 *   - gradients reaching Y (every step), Y_h and Y_c (the last step processed) are added to
 *     what flows back from the following step; what is left at the first step is the
 *     gradient of initial_h (and initial_c).
 * Not supported (named in the error): clip, sequence_lens shorter than the sequence,
 * activations other than the ones a cell accepts, layout 1 (ONNX Runtime does not run it).
 */
import type { GraphBuilder } from "../../onnx/builder.js";
import { type DataType, getInt, getString } from "../../onnx/ir.js";
import { constantValue, zerosOf } from "../constants.js";
import { type GradThunk, unsupported, type VjpContext } from "../rule.js";

/** The state a cell carries from step to step: [h] or [h, c]. */
export type State = string[];

export interface CellBlock {
  /** Gradient of the block's pre-activation in_k·R_kᵀ + Rb_k, [B, rows]. */
  dPre: string;
  /** The block's input in_k, [B, H]. */
  input: string;
}

export interface CellBackward {
  /** Gradient of the step's input projection x_t·Wᵀ + Wb, [B, G·H]. */
  dProjection: string;
  /** Gradients of the pre-activations of R's row blocks, in row order. */
  blocks: CellBlock[];
  /** Gradient of the previous state. */
  dPrevious: State;
}

/** One step of a recurrent op, built for one direction (its R and Rb). */
export interface Cell {
  /** The new state from the step's input projection [B, G·H] (input bias included) and the previous state. */
  forward(projection: string, previous: State): { next: State; backward(dNext: (string | undefined)[]): CellBackward };
}

export interface RecurrentSpec {
  /** Gates per hidden unit: 4 (LSTM), 3 (GRU), 1 (RNN). */
  gates: number;
  /** State tensors: 2 for LSTM (h, c), 1 otherwise. */
  states: number;
  /** The activation lists (one direction's) the cell implements, the op's default first. */
  activations: readonly (readonly string[])[];
  /** Builds the cell of one direction: R [G·H, H], Rb [G·H] (undefined without B) and the node's activations. */
  cell(ctx: RecurrentCtx, r: string, rb: string | undefined, activations: readonly string[]): Cell;
}

export interface RecurrentCtx {
  b: GraphBuilder;
  dt: DataType;
  hidden: number;
  batch: number;
  node: VjpContext["node"];
  /** A scalar of the gradient's element type. */
  k(value: number): string;
  mul(p: string, q: string): string;
  add(p: string, q: string): string;
  sub(p: string, q: string): string;
  /** Columns [from, to) of a [B, n] value. */
  columns(x: string, from: number, to: number): string;
  /** Adds the defined terms; undefined when none is. */
  sum(terms: (string | undefined)[]): string | undefined;
}

/** The thunks of a recurrent op: X, W, R, B, sequence_lens, initial_h[, initial_c][, P]. */
export function recurrentGrads(ctx: VjpContext, spec: RecurrentSpec): GradThunk[] {
  const { node, b } = ctx;
  const [x, w, r, bias, seqLens, initialH, initialC] = node.inputs;
  if (node.attributes.clip) unsupported(node, "clip (cell clipping)");
  const activations = requireActivations(node, spec.activations);
  if (getInt(node, "input_forget", 0) !== 0) unsupported(node, "input_forget=1");
  if (node.inputs[7]) unsupported(node, "peephole weights P");
  if (getInt(node, "layout", 0) !== 0) unsupported(node, "layout=1 (batch first), which ONNX Runtime does not run either");
  const direction = getString(node, "direction", "forward");
  if (!["forward", "reverse", "bidirectional"].includes(direction)) unsupported(node, `direction "${direction}"`);
  const xs = ctx.shape(x);
  const [steps, batch, inputSize] = xs;
  const dirs = direction === "bidirectional" ? 2 : 1;
  const hidden = ctx.shape(w)[1] / spec.gates;
  if (seqLens && constantValue(ctx, seqLens, "sequence_lens").some((len) => len !== steps)) {
    unsupported(node, "sequence_lens shorter than the sequence (padded sequences)");
  }
  const dt = ctx.dataType(x);
  const k = (v: number) => b.scalar(v, dt);
  const rc: RecurrentCtx = {
    b,
    dt,
    hidden,
    batch,
    node,
    k,
    mul: (p, q) => b.op("Mul", [p, q]),
    add: (p, q) => b.op("Add", [p, q]),
    sub: (p, q) => b.op("Sub", [p, q]),
    columns: (v, from, to) => b.slice(v, [from], [to], [1]),
    sum: (terms) => {
      const defined = terms.filter((t): t is string => t !== undefined);
      return defined.length === 0 ? undefined : defined.reduce((p, q) => b.op("Add", [p, q]));
    },
  };

  let cached: ReturnType<typeof backward> | undefined;
  const result = () => {
    cached ??= backward();
    return cached;
  };

  function backward() {
    const g = spec.gates * hidden;
    // X [T, B, I], dY [T, D, B, H], dY_h / dY_c [D, B, H].
    const seq = x;
    const [dY, dYh, dYc] = ctx.dy;
    const flatSeq = b.reshape(seq, [steps * batch, inputSize]);
    const perDirection: { dX: string; dW: string; dWb: string; dR: string; dRb: string; dInitial: (string | undefined)[] }[] = [];
    for (let d = 0; d < dirs; d++) {
      const pick = (v: string, dims: number[]) => b.reshape(b.slice(v, [d], [d + 1], [0]), dims);
      const wd = pick(w, [g, inputSize]);
      const rd = pick(r, [g, hidden]);
      const wb = bias ? b.reshape(b.slice(bias, [d, 0], [d + 1, g], [0, 1]), [g]) : undefined;
      const rb = bias ? b.reshape(b.slice(bias, [d, g], [d + 1, 2 * g], [0, 1]), [g]) : undefined;
      const initial = [initialH, initialC].slice(0, spec.states).map((s) => (s ? pick(s, [batch, hidden]) : zerosOf(b, [batch, hidden], dt)));
      const cell = spec.cell(rc, rd, rb, activations);
      let projection = b.op("MatMul", [seq, b.transpose(wd, [1, 0])]);
      if (wb) projection = b.op("Add", [projection, wb]);
      const order = Array.from({ length: steps }, (_, i) => (d === 0 && direction !== "reverse" ? i : steps - 1 - i));
      // Forward, recomputed.
      const taken: { t: number; back: (dNext: (string | undefined)[]) => CellBackward }[] = [];
      let state = initial;
      for (const t of order) {
        const step = cell.forward(b.reshape(b.slice(projection, [t], [t + 1], [0]), [batch, g]), state);
        taken.push({ t, back: step.backward });
        state = step.next;
      }
      // Backward, from the last step processed.
      const stepOut = (v: string | undefined, t: number) => (v ? b.reshape(b.slice(v, [t, d], [t + 1, d + 1], [0, 1]), [batch, hidden]) : undefined);
      const finalOut = (v: string | undefined) => (v ? pick(v, [batch, hidden]) : undefined);
      let carry: (string | undefined)[] = [rc.sum([finalOut(dYh)]), spec.states === 2 ? finalOut(dYc) : undefined];
      const dProjections = new Array<string>(steps);
      const blocks: CellBlock[][] = [];
      for (let i = taken.length - 1; i >= 0; i--) {
        const { t, back } = taken[i];
        const dNext = [rc.sum([carry[0], stepOut(dY, t)]), carry[1]].slice(0, spec.states);
        const step = back(dNext);
        dProjections[t] = b.unsqueeze(step.dProjection, [0]);
        step.blocks.forEach((block, j) => {
          blocks[j] ??= [];
          blocks[j].push(block);
        });
        carry = step.dPrevious;
      }
      const dProjection = b.concat(dProjections, 0);
      const flatD = b.reshape(dProjection, [steps * batch, g]);
      // Each block's steps stacked along the batch axis: one MatMul gives Σ_t dpreᵀ·in.
      const blockSums = blocks.map((list) => {
        const dPre = b.concat(
          list.map((block) => block.dPre),
          0,
        );
        const inputs = b.concat(
          list.map((block) => block.input),
          0,
        );
        return { dR: b.op("MatMul", [b.transpose(dPre, [1, 0]), inputs]), dRb: b.reduceSum(dPre, [0], false) };
      });
      perDirection.push({
        dX: b.op("MatMul", [dProjection, wd]),
        dW: b.op("MatMul", [b.transpose(flatD, [1, 0]), flatSeq]),
        dWb: b.reduceSum(flatD, [0], false),
        dR:
          blockSums.length === 1
            ? blockSums[0].dR
            : b.concat(
                blockSums.map((s) => s.dR),
                0,
              ),
        dRb:
          blockSums.length === 1
            ? blockSums[0].dRb
            : b.concat(
                blockSums.map((s) => s.dRb),
                0,
              ),
        dInitial: carry,
      });
    }
    const stack = (values: string[]) =>
      values.length === 1
        ? b.unsqueeze(values[0], [0])
        : b.concat(
            values.map((v) => b.unsqueeze(v, [0])),
            0,
          );
    const dSeq = perDirection.length === 1 ? perDirection[0].dX : b.op("Add", [perDirection[0].dX, perDirection[1].dX]);
    const initialGrad = (i: number) => stack(perDirection.map((p) => p.dInitial[i] ?? zerosOf(b, [batch, hidden], dt)));
    return {
      dX: dSeq,
      dW: stack(perDirection.map((p) => p.dW)),
      dR: stack(perDirection.map((p) => p.dR)),
      dB: stack(perDirection.map((p) => b.concat([p.dWb, p.dRb], 0))),
      initialGrad,
    };
  }

  return [
    () => result().dX,
    () => result().dW,
    () => result().dR,
    bias ? () => result().dB : undefined,
    undefined,
    initialH ? () => result().initialGrad(0) : undefined,
    spec.states === 2 && initialC ? () => result().initialGrad(1) : undefined,
    undefined,
  ];
}

/** The node's activations for one direction when they are one of `allowed` (the defaults first); others are refused by name. */
function requireActivations(node: VjpContext["node"], allowed: readonly (readonly string[])[]): readonly string[] {
  const given = node.attributes.activations;
  const dirs = getString(node, "direction", "forward") === "bidirectional" ? 2 : 1;
  if (!given) return allowed[0];
  if (given.type !== "strings") unsupported(node, "activations that are not a list of names");
  const names = given.value.map((n) => n.toLowerCase());
  const per = names.length / dirs;
  const first = names.slice(0, per);
  for (let d = 1; d < dirs; d++) {
    if (names.slice(d * per, (d + 1) * per).join() !== first.join()) unsupported(node, `different activations per direction (${given.value.join(", ")})`);
  }
  const match = allowed.find((a) => a.map((s) => s.toLowerCase()).join() === first.join());
  if (!match) unsupported(node, `activations ${given.value.join(", ")}`);
  if (node.attributes.activation_alpha || node.attributes.activation_beta) unsupported(node, "activation_alpha/activation_beta");
  return match;
}
