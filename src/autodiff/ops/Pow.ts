import { dy0, type VjpRule } from "../rule.js";

/**
 * y = aᵉ: da = dy·e·aᵉ⁻¹, de = dy·y·ln a, each summed back over its broadcast axes. As
 * PyTorch: da is 0 where e = 0 (not 0·∞ at a = 0) and de is 0 where a = 0 and e ≥ 0.
 * The exponent may have another type than the base (integers from opset 12); it then gets
 * a gradient only when it is a float, cast to its own type.
 */
export const Pow: VjpRule = {
  opType: "Pow",
  grad: (ctx) => {
    const [a, e] = ctx.node.inputs;
    const y = ctx.node.outputs[0];
    const t = ctx.dataType(y);
    const te = ctx.dataType(e);
    return [
      () => {
        const b = ctx.b;
        const zero = b.scalar(0, t);
        const ef = te === t ? e : b.cast(e, t);
        const slope = b.op("Mul", [ef, b.op("Pow", [a, b.op("Sub", [ef, b.scalar(1, t)])])]);
        const grad = b.op("Where", [b.op("Equal", [ef, zero]), zero, b.op("Mul", [dy0(ctx), slope])]);
        return ctx.unbroadcast(grad, a);
      },
      () => {
        const b = ctx.b;
        const zero = b.scalar(0, t);
        const atZero = b.op("And", [b.op("Equal", [a, zero]), b.op("Not", [b.op("Less", [e, b.scalar(0, te)])])]);
        const raw = b.op("Mul", [dy0(ctx), b.op("Mul", [y, b.op("Log", [a])])]);
        const grad = ctx.unbroadcast(b.op("Where", [atZero, zero, raw]), e);
        return te === t ? grad : b.cast(grad, te);
      },
    ];
  },
};
