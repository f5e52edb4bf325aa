import { dy0, type VjpRule } from "../rule.js";

/** y = ln x: dx = dy/x. */
export const Log: VjpRule = {
  opType: "Log",
  grad: (ctx) => [() => ctx.b.op("Div", [dy0(ctx), ctx.node.inputs[0]])],
};
