import { getInt } from "../../onnx/ir.js";
import type { VjpContext } from "../rule.js";

/**
 * The axes a Softmax or LogSoftmax normalises over. Before opset 13 the input is coerced
 * to 2-D at `axis` (default 1), so it runs over every axis from `axis` on; from 13 it runs
 * over `axis` alone (default −1).
 */
export function softmaxAxes(ctx: VjpContext): number[] {
  const rank = ctx.shape(ctx.node.outputs[0]).length;
  const modern = ctx.b.opset >= 13;
  const axis = getInt(ctx.node, "axis", modern ? -1 : 1);
  const first = axis < 0 ? axis + rank : axis;
  return modern ? [first] : Array.from({ length: rank - first }, (_, i) => first + i);
}
