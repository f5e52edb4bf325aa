import { dy0, type VjpRule } from "../rule.js";

/** d(−x) = −dy. */
export const Neg: VjpRule = {
  opType: "Neg",
  grad: (ctx) => [() => ctx.b.op("Neg", [dy0(ctx)])],
};
