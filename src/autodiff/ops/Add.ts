import { dy0, type VjpRule } from "../rule.js";

/** d(a+b) = (dy, dy), each summed back over its broadcast axes. */
export const Add: VjpRule = {
  opType: "Add",
  grad: (ctx) => {
    const [a, b] = ctx.node.inputs;
    return [() => ctx.unbroadcast(dy0(ctx), a), () => ctx.unbroadcast(dy0(ctx), b)];
  },
};
