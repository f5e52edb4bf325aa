import { dy0, type VjpRule } from "../rule.js";

/** dx = dy. */
export const Identity: VjpRule = {
  opType: "Identity",
  grad: (ctx) => [() => dy0(ctx)],
};
