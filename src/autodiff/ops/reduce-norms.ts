/**
 * Reductions whose gradient is dy broadcast back over the reduced axes times a factor of x
 * and y: ReduceL2 (F.normalize and torch.norm), ReduceSumSquare and ReduceLogSumExp. Axes
 * are an input from opset 18. noop_with_empty_axes without axes is refused: what it computes
 * then (x, or the elementwise function) differs between the spec and runtimes.
 */
import { getInt } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpContext, type VjpRule } from "../rule.js";
import { expandReduced, keptShape } from "./static-values.js";

function reduceRule(opType: string, dx: (ctx: VjpContext, expand: (value: string) => string) => string): VjpRule {
  return {
    opType,
    grad: (ctx) => {
      const { node } = ctx;
      const axesGiven = ctx.b.opset >= 18 ? Boolean(node.inputs[1]) : true;
      if (getInt(node, "noop_with_empty_axes", 0) !== 0 && !axesGiven) unsupported(node, "noop_with_empty_axes=1 without axes");
      const kept = keptShape(ctx, 18);
      return [() => dx(ctx, (value) => expandReduced(ctx, value, kept)), undefined];
    },
  };
}

/** y = √Σx²: dx = x·dy/y, and 0 where y = 0 (as torch.linalg.vector_norm). */
export const ReduceL2 = reduceRule("ReduceL2", (ctx, expand) => {
  const b = ctx.b;
  const y = ctx.node.outputs[0];
  const t = ctx.dataType(y);
  const perNorm = b.op("Where", [b.op("Equal", [y, b.scalar(0, t)]), b.scalar(0, t), b.op("Div", [dy0(ctx), y])]);
  return b.op("Mul", [ctx.node.inputs[0], expand(perNorm)]);
});

/** y = Σx²: dx = 2x·dy. */
export const ReduceSumSquare = reduceRule("ReduceSumSquare", (ctx, expand) => {
  const b = ctx.b;
  const x = ctx.node.inputs[0];
  return b.op("Mul", [b.op("Mul", [x, b.scalar(2, ctx.dataType(x))]), expand(dy0(ctx))]);
});

/** y = ln Σ eˣ: dx = dy·e^(x − y), the softmax over the reduced axes. */
export const ReduceLogSumExp = reduceRule("ReduceLogSumExp", (ctx, expand) => {
  const b = ctx.b;
  const x = ctx.node.inputs[0];
  return b.op("Mul", [expand(dy0(ctx)), b.op("Exp", [b.op("Sub", [x, expand(ctx.node.outputs[0])])])]);
});
