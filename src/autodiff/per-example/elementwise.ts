import { RULES } from "../registry.js";
import type { VjpContext } from "../rule.js";
import { type PerExampleRule, perExampleSum } from "./rule.js";

/**
 * Add, Sub, Mul and Div with a parameter operand (a bias, a per-channel scale): their VJP
 * rules end in ctx.unbroadcast, which sums over the axes the operand was broadcast along;
 * run with an unbroadcast that keeps the batch axis, the same rule yields [N, …shape].
 */
function broadcasting(opType: string): PerExampleRule {
  const rule = RULES.get(opType);
  if (!rule) throw new Error(`no VJP rule for ${opType}`);
  return {
    opType,
    grad: (ctx, index) => {
      const outShape = ctx.shape(ctx.node.outputs[0]);
      const perExampleCtx: VjpContext = {
        ...ctx,
        unbroadcast: (grad, operand) => perExampleSum(ctx.b, ctx.node, grad, ctx.shape(operand), outShape),
      };
      return { perExample: () => (rule.grad(perExampleCtx)[index] as () => string)() };
    },
  };
}

export const ELEMENTWISE_RULES: readonly PerExampleRule[] = ["Add", "Sub", "Mul", "Div"].map(broadcasting);
