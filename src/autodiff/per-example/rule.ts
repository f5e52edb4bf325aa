/**
 * The contract of a per-example gradient rule: for a node that consumes a parameter, the
 * gradient of each example's own loss with respect to that parameter, built from the
 * node's inputs and the batch's backward signal dY. Every row of dY belongs to one
 * example as long as no op mixes the batch (BatchNormalization in training mode does, and
 * is refused), so the per-example gradients are those of the batch without the sum over
 * the batch axis (axis 0). One file per op, as the VJP rules.
 */
import type { GraphBuilder } from "../../onnx/builder.js";
import type { Node } from "../../onnx/ir.js";
import { unsupported, type VjpContext } from "../rule.js";

export interface PerExampleGradient {
  /** The per-example gradients [N, …parameter shape]. */
  perExample(): string;
  /**
   * ‖gᵢ‖² per example [N] without materialising the gᵢ, where that costs less (ghost
   * norms, Li et al. 2022; Bu et al. 2023); absent, the norms come from perExample().
   */
  squaredNorm?(): string;
}

export interface PerExampleRule {
  readonly opType: string;
  /** Per-example gradients of the node's input `index`, which is a parameter. */
  grad(ctx: VjpContext, index: number): PerExampleGradient;
}

/** For inputs a rule has no per-example form for: says which, by name. */
export function noPerExample(node: Node, index: number): never {
  return unsupported(node, `a parameter as input ${index} for per-example gradients`);
}

/**
 * Sums `grad` (at `outShape`, batch first) over the axes along which an operand of shape
 * `operandShape` was broadcast, except the batch axis: [N, …operandShape].
 */
export function perExampleSum(b: GraphBuilder, node: Node, grad: string, operandShape: readonly number[], outShape: readonly number[]): string {
  const lead = outShape.length - operandShape.length;
  if (lead === 0 && operandShape[0] !== 1) unsupported(node, "a parameter that varies along the batch axis, for per-example gradients");
  const axes: number[] = [];
  for (let j = 1; j < outShape.length; j++) {
    const dim = j < lead ? 1 : operandShape[j - lead];
    if (j < lead || (dim === 1 && outShape[j] !== 1)) axes.push(j);
  }
  const summed = axes.length > 0 ? b.reduceSum(grad, axes, true) : grad;
  return b.reshape(summed, [outShape[0], ...operandShape]);
}
