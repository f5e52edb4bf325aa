import { getFloat } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * y = min(max(x, lo), hi). dx = dy where lo ≤ x ≤ hi (bounds included, as PyTorch's clamp);
 * from opset 11 the bounds are optional inputs and get, as in PyTorch, dlo = Σ dy where
 * x < lo (and lo < hi), dhi = Σ dy where x > hi (or hi < lo: then y = hi everywhere).
 * Below opset 11 they are the attributes min/max. Comparisons avoid GreaterOrEqual and
 * LessOrEqual, which need opset 12.
 */
export const Clip: VjpRule = {
  opType: "Clip",
  grad: (ctx) => {
    const { node } = ctx;
    const x = node.inputs[0];
    const t = ctx.dataType(node.outputs[0]);
    const b = ctx.b;
    const asInputs = b.opset >= 11;
    const bound = (i: number, name: string): string | undefined => {
      if (asInputs) return node.inputs[i] || undefined;
      return node.attributes[name] ? b.scalar(getFloat(node, name, 0), t) : undefined;
    };
    const lo = bound(1, "min");
    const hi = bound(2, "max");
    const where = (cond: string) => b.op("Where", [cond, dy0(ctx), b.scalar(0, t)]);
    return [
      () => {
        const conds: string[] = [];
        if (lo) conds.push(b.op("Not", [b.op("Less", [x, lo])]));
        if (hi) conds.push(b.op("Not", [b.op("Greater", [x, hi])]));
        if (conds.length === 0) return dy0(ctx);
        return where(conds.length === 1 ? conds[0] : b.op("And", conds));
      },
      asInputs && lo
        ? () => {
            const below = b.op("Less", [x, lo]);
            return ctx.unbroadcast(where(hi ? b.op("And", [below, b.op("Less", [lo, hi])]) : below), lo);
          }
        : undefined,
      asInputs && hi
        ? () => {
            const above = b.op("Greater", [x, hi]);
            return ctx.unbroadcast(where(lo ? b.op("Or", [above, b.op("Less", [hi, lo])]) : above), hi);
          }
        : undefined,
    ];
  },
};
