/**
 * For reductions: the output shape with the reduced axes kept as 1, so gradients can be
 * reshaped and expanded statically.
 */
import { getInts } from "../../onnx/ir.js";
import { constantNumbers } from "../constants.js";
import { unsupported, type VjpContext } from "../rule.js";

/**
 * The output shape of a Reduce* node as if keepdims were 1. `axesInputSince` is the opset
 * from which the op takes axes as an input rather than an attribute.
 */
export function keptShape(ctx: VjpContext, axesInputSince: number): number[] {
  const { node } = ctx;
  const inShape = ctx.shape(node.inputs[0]);
  const outShape = ctx.shape(node.outputs[0]);
  // Same rank: keepdims=1, or nothing reduced (noop_with_empty_axes); rank 0: everything reduced.
  if (outShape.length === inShape.length) return outShape;
  if (outShape.length === 0) return inShape.map(() => 1);
  const axesInput = node.inputs[1];
  const axes = ctx.b.opset >= axesInputSince ? (axesInput ? constantNumbers(ctx, axesInput) : undefined) : getInts(node, "axes");
  if (!axes) return unsupported(node, "keepdims=0 and axes that are not a constant");
  const rank = inShape.length;
  const reduced = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
  const kept = inShape.map((d, i) => (reduced.has(i) ? 1 : d));
  const remaining = inShape.filter((_, i) => !reduced.has(i));
  if (remaining.join() !== outShape.join()) throw new Error(`${node.opType} node ${node.name}: axes [${axes}] do not turn [${inShape}] into [${outShape}]`);
  return kept;
}

/** A value at the reduction's output shape, reshaped to `kept` and broadcast to the input's shape. */
export function expandReduced(ctx: VjpContext, value: string, kept: readonly number[]): string {
  const { b, node } = ctx;
  const inShape = ctx.shape(node.inputs[0]);
  const v = kept.join() === ctx.shape(node.outputs[0]).join() ? value : b.reshape(value, kept);
  return kept.join() === inShape.join() ? v : b.op("Expand", [v, b.int64s(inShape)]);
}
