import type { GraphBuilder } from "../onnx/builder.js";

/** Sums `grad` (at `outShape`) over the axes along which `inShape` was broadcast. */
export function unbroadcast(b: GraphBuilder, grad: string, inShape: number[], outShape: number[]): string {
  const lead = outShape.length - inShape.length;
  const axes: number[] = [];
  for (let j = 0; j < outShape.length; j++) {
    const inDim = j < lead ? 1 : inShape[j - lead];
    if (j < lead || (inDim === 1 && outShape[j] !== 1)) axes.push(j);
  }
  if (axes.length === 0 && lead === 0) return grad;
  let g = axes.length > 0 ? b.reduceSum(grad, axes, true) : grad;
  if (lead > 0 || axes.length > 0) g = b.reshape(g, inShape);
  return g;
}
