/**
 * Per-example gradients in one run: the batch's backward pass is built as usual (every
 * activation gradient δ), but the parameters' gradients are not summed over the batch;
 * each node that consumes a parameter hands its context to its per-example rule
 * (per-example/), which yields the examples' gradients or, cheaper, only their norms.
 *
 * Clipped-and-summed gradients for DP-SGD (Abadi et al. 2016) come from the same run:
 * with sᵢ = min(1, C/(‖gᵢ‖ + 10⁻⁶)) from the norms, Σᵢ sᵢ·gᵢ is the parameters' VJP with every
 * row of δ scaled by sᵢ (the book-keeping trick of Bu et al. 2023), or the sum of the
 * materialised gᵢ scaled, where a rule materialised them anyway.
 */
import { AegisError } from "../errors.js";
import { GraphBuilder } from "../onnx/builder.js";
import { DataType, defaultOpset, type Model } from "../onnx/ir.js";
import { appendGradients, type ParameterUse } from "./gradient.js";
import { PER_EXAMPLE_RULES, type PerExampleGradient } from "./per-example/index.js";
import type { ValueShape, VjpContext } from "./rule.js";

export interface PerExampleRequest {
  /** The per-example losses [N], each seeded with 1 (padding rows may be seeded 0). */
  seeds: { value: string; seed: string }[];
  /** Parameters (graph inputs or initializers) that the examples share. */
  params: string[];
  shapes: ReadonlyMap<string, ValueShape>;
  batch: number;
  /** Also return the per-example gradients [N, …shape] of every parameter. */
  gradients?: boolean;
  /** A scalar value C: also return Σᵢ min(1, C/‖gᵢ‖)·gᵢ per parameter. */
  clipNorm?: string;
}

export interface PerExampleValues {
  /** ‖gᵢ‖ over all parameters [N]. */
  norms: string;
  gradients: Map<string, string>;
  clippedSums: Map<string, string>;
}

interface Contribution {
  use: ParameterUse;
  rule: PerExampleGradient;
}

export function appendPerExampleGradients(model: Model, request: PerExampleRequest): PerExampleValues {
  const uses = new Map<string, ParameterUse[]>(request.params.map((p) => [p, []]));
  appendGradients(model, {
    seeds: request.seeds,
    wrt: request.params,
    shapes: request.shapes,
    intercept: { values: new Set(request.params), use: (value, use) => uses.get(value)?.push(use) },
  });
  const b = new GraphBuilder(model.graph, defaultOpset(model), "per_example");
  const n = request.batch;
  const shapeOf = (value: string) => request.shapes.get(value)?.dims ?? [];

  const perParam = request.params.map((param) => {
    const contributions: Contribution[] = (uses.get(param) ?? []).map((use) => {
      const rule = PER_EXAMPLE_RULES.get(use.ctx.node.opType);
      if (!rule) {
        throw new AegisError(
          "UNSUPPORTED",
          `no per-example gradient for parameter "${param}" of ${use.ctx.node.opType} node "${use.ctx.node.name}"; per-example gradients cover Conv, Gemm, MatMul, Add/Sub/Mul/Div, BatchNormalization (inference) and LayerNormalization`,
        );
      }
      return { use, rule: rule.grad(use.ctx, use.input) };
    });
    let materialised: string | undefined;
    const perExample = () => {
      if (materialised === undefined) {
        const parts = contributions.map((c) => c.rule.perExample());
        materialised = parts.length === 0 ? zeros(b, [n, ...shapeOf(param)]) : parts.length === 1 ? parts[0] : b.op("Sum", parts);
      }
      return materialised;
    };
    const ghost = contributions.length === 1 ? contributions[0].rule.squaredNorm : undefined;
    const squaredNorm = ghost ? ghost() : b.reduceSumSquare(b.reshape(perExample(), [n, -1]), [1], false);
    return { param, contributions, perExample, squaredNorm, isMaterialised: () => materialised !== undefined };
  });

  const squared = perParam.map((p) => p.squaredNorm);
  const norms = b.op("Sqrt", [squared.length === 1 ? squared[0] : b.op("Sum", squared)]);
  const gradients = new Map<string, string>();
  if (request.gradients) for (const p of perParam) gradients.set(p.param, p.perExample());

  const clippedSums = new Map<string, string>();
  if (request.clipNorm) {
    const scales = b.op("Min", [b.op("Div", [request.clipNorm, b.op("Add", [norms, b.scalar(1e-6)])]), b.scalar(1)]);
    for (const p of perParam) {
      const dims = shapeOf(p.param);
      if (p.contributions.length === 0) clippedSums.set(p.param, zeros(b, dims));
      else if (p.isMaterialised()) {
        const weighted = b.op("Mul", [p.perExample(), b.reshape(scales, [n, ...dims.map(() => 1)])]);
        clippedSums.set(p.param, b.reduceSum(weighted, [0], false));
      } else {
        const parts = p.contributions.map((c) => scaledVjp(b, c.use, scales, n));
        clippedSums.set(p.param, parts.length === 1 ? parts[0] : b.op("Sum", parts));
      }
    }
  }
  return { norms, gradients, clippedSums };
}

/** The parameter's VJP with each example's rows of the node's output gradients scaled by sᵢ. */
function scaledVjp(b: GraphBuilder, { rule, ctx, input }: ParameterUse, scales: string, n: number): string {
  const dy = ctx.dy.map((g, k) => {
    if (g === undefined) return undefined;
    const rank = ctx.shape(ctx.node.outputs[k]).length;
    return b.op("Mul", [g, b.reshape(scales, [n, ...new Array<number>(rank - 1).fill(1)])]);
  });
  const scaled: VjpContext = { ...ctx, dy };
  return (rule.grad(scaled)[input] as () => string)();
}

function zeros(b: GraphBuilder, dims: number[]): string {
  return b.initializer(DataType.FLOAT, dims, new Float32Array(dims.reduce((p, d) => p * d, 1)), "zeros");
}
