import { dy0, type VjpRule } from "../rule.js";
import { expandReduced, keptShape } from "./static-values.js";

/** y = Σ over axes: dx = dy broadcast back over the reduced axes (axes an input from opset 13). */
export const ReduceSum: VjpRule = {
  opType: "ReduceSum",
  grad: (ctx) => {
    const kept = keptShape(ctx, 13);
    return [() => expandReduced(ctx, dy0(ctx), kept), undefined];
  },
};
