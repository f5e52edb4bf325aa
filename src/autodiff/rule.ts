/**
 * The contract of a vector-Jacobian-product rule. As in TensorFlow.js's gradient files,
 * a rule returns one thunk per input of the node; the gradient builder calls only the
 * thunks whose input needs a gradient, so nothing is emitted that nobody asked for.
 * A thunk appends backward nodes through the builder and returns the name of the value
 * that holds the gradient with respect to that input (same shape as the input).
 */
import { AegisError } from "../errors.js";
import type { GraphBuilder } from "../onnx/builder.js";
import type { DataType, Node } from "../onnx/ir.js";

export interface ValueShape {
  dims: number[];
  dataType: DataType;
  /** The elements, for a value fixed by the input shapes alone (shape-values.ts). */
  value?: readonly number[];
}

export interface VjpContext {
  readonly node: Node;
  readonly b: GraphBuilder;
  /** Gradient flowing into each output of the node; undefined where none flows. */
  readonly dy: readonly (string | undefined)[];
  /** Static shape of a value of the forward graph (known from a probe run); not of backward values. */
  shape(value: string): number[];
  dataType(value: string): DataType;
  /** Sums a gradient taken at the (broadcast) output shape back to `operand`'s shape. */
  unbroadcast(grad: string, operand: string): string;
  /**
   * The elements of a forward value fixed by the probed input shapes (a constant, or shape
   * arithmetic); undefined when it depends on the data.
   */
  fixedValue(value: string): readonly number[] | undefined;
  /** For a value that depends on the data: the node where the data comes in, described; undefined for a fixed value. */
  dataSource(value: string): string | undefined;
}

export type GradThunk = (() => string) | undefined;

export interface VjpRule {
  readonly opType: string;
  grad(ctx: VjpContext): GradThunk[];
}

/** The gradient of the first output, which every single-output rule needs. */
export function dy0(ctx: VjpContext): string {
  const g = ctx.dy[0];
  if (g === undefined) throw new Error(`no gradient reaches the output of ${ctx.node.opType} node ${ctx.node.name}`);
  return g;
}

/** A node the gradient builder cannot differentiate through, and why. */
export class NoGradientError extends AegisError {
  readonly node: Node;
  readonly reason: string;
  constructor(node: Node, reason: string) {
    super(
      "UNSUPPORTED",
      `no gradient for ${node.opType} node "${node.name}" with ${reason}; black-box attacks (which need only predictions) still work on this model`,
    );
    this.node = node;
    this.reason = reason;
  }
}

/** For rules that cannot handle an attribute value: say which, by name. */
export function unsupported(node: Node, what: string): never {
  throw new NoGradientError(node, what);
}
