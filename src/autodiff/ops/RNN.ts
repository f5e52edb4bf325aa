import { unsupported, type VjpRule } from "../rule.js";
import { type Cell, type RecurrentCtx, recurrentGrads } from "./recurrent.js";

/**
 * Simple RNN: a = x·Wᵀ + Wb + h′·Rᵀ + Rb, h = f(a), f = tanh (default), relu (what torch
 * exports for nonlinearity="relu") or σ. One step back: da = dh·f′(a), with f′ read from h
 * (1 − h², [h > 0], h·(1 − h)); dh′ = da·R, dR += daᵀ·h′. The time loop, directions,
 * layouts and the other gradients are recurrent.ts's.
 */
export const RNN: VjpRule = {
  opType: "RNN",
  grad: (ctx) => recurrentGrads(ctx, { gates: 1, states: 1, activations: [["Tanh"], ["Relu"], ["Sigmoid"]], cell: rnnCell }),
};

function rnnCell(rc: RecurrentCtx, r: string, rb: string | undefined, [activation]: readonly string[]): Cell {
  const { b, mul, add, sub, k } = rc;
  const rT = b.transpose(r, [1, 0]);
  const op = { tanh: "Tanh", relu: "Relu", sigmoid: "Sigmoid" }[activation.toLowerCase()] ?? unsupported(rc.node, `activation ${activation}`);
  return {
    forward(projection, [hPrev]) {
      let a = add(projection, b.op("MatMul", [hPrev, rT]));
      if (rb) a = add(a, rb);
      const h = b.op(op, [a]);
      return {
        next: [h],
        backward([dh]) {
          const slope = op === "Tanh" ? sub(k(1), mul(h, h)) : op === "Sigmoid" ? mul(h, sub(k(1), h)) : b.cast(b.op("Greater", [h, k(0)]), rc.dt);
          const da = mul(dh ?? mul(h, k(0)), slope);
          return { dProjection: da, blocks: [{ dPre: da, input: hPrev }], dPrevious: [b.op("MatMul", [da, r])] };
        },
      };
    },
  };
}
