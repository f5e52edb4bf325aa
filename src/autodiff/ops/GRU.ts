import { getInt } from "../../onnx/ir.js";
import type { VjpRule } from "../rule.js";
import { type Cell, type RecurrentCtx, recurrentGrads } from "./recurrent.js";

/**
 * GRU, gates in ONNX's order z, r, h̃ (default activations σ, tanh):
 *   z, r = σ(x·W_zrᵀ + Wb_zr + h′·R_zrᵀ + Rb_zr)
 *   linear_before_reset = 0:  n = tanh(x·W_hᵀ + Wb_h + (r·h′)·R_hᵀ + Rb_h)
 *   linear_before_reset ≠ 0:  n = tanh(x·W_hᵀ + Wb_h + r·(h′·R_hᵀ + Rb_h))   (what torch exports)
 *   h = (1 − z)·n + z·h′
 * One step back with dh: dn = dh·(1 − z), dz = dh·(h′ − n), da_n = dn·(1 − n²),
 * da_z = dz·z(1 − z), da_r = dr·r(1 − r), where dr = da_n·q (q = h′·R_hᵀ + Rb_h) with
 * linear_before_reset, else dr = (da_n·R_h)·h′. dh′ = dh·z plus what flows back through the
 * recurrent products. R's rows form one block (input h′) with linear_before_reset, else
 * two: z and r (input h′) and h̃ (input r·h′). The time loop is recurrent.ts's.
 */
export const GRU: VjpRule = {
  opType: "GRU",
  grad: (ctx) => {
    const beforeReset = getInt(ctx.node, "linear_before_reset", 0) !== 0;
    return recurrentGrads(ctx, { gates: 3, states: 1, activations: [["Sigmoid", "Tanh"]], cell: (rc, r, rb) => gruCell(rc, r, rb, beforeReset) });
  },
};

function gruCell(rc: RecurrentCtx, r: string, rb: string | undefined, beforeReset: boolean): Cell {
  const { b, hidden: h, mul, add, sub, k, columns } = rc;
  const rows = (v: string, from: number, to: number) => b.slice(v, [from], [to], [0]);
  const rT = b.transpose(r, [1, 0]);
  const rZr = rows(r, 0, 2 * h);
  const rH = rows(r, 2 * h, 3 * h);
  const rZrT = b.transpose(rZr, [1, 0]);
  const rHT = b.transpose(rH, [1, 0]);
  const rbZr = rb ? rows(rb, 0, 2 * h) : undefined;
  const rbH = rb ? rows(rb, 2 * h, 3 * h) : undefined;
  const plus = (v: string, bias: string | undefined) => (bias ? add(v, bias) : v);
  return {
    forward(projection, [hPrev]) {
      // q: the recurrent products of every gate (before reset) or of z and r only.
      const q = beforeReset ? plus(b.op("MatMul", [hPrev, rT]), rb) : plus(b.op("MatMul", [hPrev, rZrT]), rbZr);
      const zr = b.op("Sigmoid", [add(columns(projection, 0, 2 * h), columns(q, 0, 2 * h))]);
      const z = columns(zr, 0, h);
      const rGate = columns(zr, h, 2 * h);
      const reset = beforeReset ? undefined : mul(rGate, hPrev);
      const qH = beforeReset ? columns(q, 2 * h, 3 * h) : undefined;
      const inner = qH ? mul(rGate, qH) : plus(b.op("MatMul", [reset as string, rHT]), rbH);
      const n = b.op("Tanh", [add(columns(projection, 2 * h, 3 * h), inner)]);
      return {
        next: [add(n, mul(z, sub(hPrev, n)))],
        backward([dhGiven]) {
          const dh = dhGiven ?? mul(hPrev, k(0));
          const daN = mul(mul(dh, sub(k(1), z)), sub(k(1), mul(n, n)));
          const dz = mul(dh, sub(hPrev, n));
          const dReset = qH ? undefined : b.op("MatMul", [daN, rH]);
          const dr = qH ? mul(daN, qH) : mul(dReset as string, hPrev);
          const daZr = mul(b.concat([dz, dr], 1), mul(zr, sub(k(1), zr)));
          const dProjection = b.concat([daZr, daN], 1);
          if (qH) {
            const dq = b.concat([daZr, mul(daN, rGate)], 1);
            return { dProjection, blocks: [{ dPre: dq, input: hPrev }], dPrevious: [add(mul(dh, z), b.op("MatMul", [dq, r]))] };
          }
          const dPrevious = add(add(mul(dh, z), b.op("MatMul", [daZr, rZr])), mul(dReset as string, rGate));
          return {
            dProjection,
            blocks: [
              { dPre: daZr, input: hPrev },
              { dPre: daN, input: reset as string },
            ],
            dPrevious: [dPrevious],
          };
        },
      };
    },
  };
}
