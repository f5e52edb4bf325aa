import type { VjpRule } from "../rule.js";
import { type Cell, type RecurrentCtx, recurrentGrads } from "./recurrent.js";

/**
 * LSTM, gates in ONNX's order i, o, f, c̃ (default activations σ, tanh, tanh):
 *   a = x·Wᵀ + Wb + h′·Rᵀ + Rb,  i, o, f = σ(a_i, a_o, a_f),  g = tanh(a_c̃)
 *   c = f·c′ + i·g,  h = o·tanh(c)                      (′: the previous step)
 * One step back, with dh and dc arriving at h and c:
 *   dc_tot = dc + dh·o·(1 − tanh²c),  do = dh·tanh c
 *   di = dc_tot·g,  df = dc_tot·c′,  dg = dc_tot·i,  dc′ = dc_tot·f
 *   da = [di·i(1−i), do·o(1−o), df·f(1−f), dg·(1−g²)],  dh′ = da·R,  dR += daᵀ·h′
 * The unrolled time loop, directions, layouts and the W, B and initial-state gradients
 * are recurrent.ts's. Not supported: peepholes (P), input_forget, clip, other activations.
 */
export const LSTM: VjpRule = {
  opType: "LSTM",
  grad: (ctx) => recurrentGrads(ctx, { gates: 4, states: 2, activations: [["Sigmoid", "Tanh", "Tanh"]], cell: lstmCell }),
};

function lstmCell(rc: RecurrentCtx, r: string, rb: string | undefined): Cell {
  const { b, hidden: h, mul, add, sub, k, columns } = rc;
  const rT = b.transpose(r, [1, 0]);
  return {
    forward(projection, [hPrev, cPrev]) {
      let a = add(projection, b.op("MatMul", [hPrev, rT]));
      if (rb) a = add(a, rb);
      const s = b.op("Sigmoid", [columns(a, 0, 3 * h)]);
      const [i, o, f] = [0, 1, 2].map((j) => columns(s, j * h, (j + 1) * h));
      const g = b.op("Tanh", [columns(a, 3 * h, 4 * h)]);
      const c = add(mul(f, cPrev), mul(i, g));
      const tc = b.op("Tanh", [c]);
      return {
        next: [mul(o, tc), c],
        backward([dh, dc]) {
          const fromH = dh ? mul(mul(dh, o), sub(k(1), mul(tc, tc))) : undefined;
          const dcTotal = rc.sum([dc, fromH]) ?? b.op("Mul", [c, k(0)]);
          const dOut = dh ? mul(dh, tc) : mul(o, k(0));
          const ds = mul(b.concat([mul(dcTotal, g), dOut, mul(dcTotal, cPrev)], 1), mul(s, sub(k(1), s)));
          const dg = mul(mul(dcTotal, i), sub(k(1), mul(g, g)));
          const da = b.concat([ds, dg], 1);
          return { dProjection: da, blocks: [{ dPre: da, input: hPrev }], dPrevious: [b.op("MatMul", [da, r]), mul(dcTotal, f)] };
        },
      };
    },
  };
}
