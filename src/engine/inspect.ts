/**
 * A summary of an ONNX model: interface, operator sets, op histogram, parameter count,
 * what its input means for attacks and whether Aegis can differentiate it (and if not,
 * which nodes stop it and why). Differentiability is decided by building the very
 * gradient graph `aegis grad` builds (cross-entropy, with respect to the input or, for
 * token ids, to the embedding output) at a probe shape, with the same shape folding, so
 * `inspect` and `grad` never disagree.
 */
import type { GradientProblem } from "../autodiff/gradient.js";
import { AegisError } from "../errors.js";
import { DataType, type Dim, dataTypeName, type Model, parameterCount } from "../onnx/ir.js";
import { float32, type Tensor } from "../tensor.js";
import type { Capability } from "./capabilities.js";
import type { OnnxClassifier } from "./classifier.js";
import { crossEntropy } from "./losses.js";
import type { RuntimeOptions } from "./runtime.js";
import { type EmbeddingSite, findEmbedding, openClassifier, TokenClassifier } from "./token-classifier.js";

export interface ValueSummary {
  name: string;
  type: string;
  shape: Dim[] | null;
}

/** What can be read off the file without running it. */
export interface ModelDescription {
  producer: string;
  irVersion: number;
  opsets: Record<string, number>;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  nodes: number;
  ops: Record<string, number>;
  parameters: number;
}

/** What the model's input is, for an attacker. */
export interface InputRole {
  /** continuous: values attacks perturb; token-ids: integers into an embedding; unsupported: neither. */
  kind: "continuous" | "token-ids" | "unsupported";
  /** What it means for attacks, in a sentence. */
  note: string;
  /** zeroRows: ids whose embedding is all zeros (a PyTorch padding_idx, most likely). */
  embedding?: { table: string; vocabulary: number; dimension: number; zeroRows: number[] };
}

export interface ModelSummary extends ModelDescription {
  input: InputRole;
  /** True when the gradient reaches the input (or, for token ids, the embedding output) from the loss. */
  differentiable: boolean;
  /** The nodes the gradient cannot pass, each with its reason. */
  nonDifferentiable: GradientProblem[];
  /** Why no gradient graph could be built at all (the model cannot be wrapped or run), when that is the case. */
  gradientError?: string;
  /** The input shape the gradient graph was built at (free dimensions: batch 2, others 8). */
  probedShape: number[] | null;
  /** The attack capabilities the model offers (aegis attack --list). */
  capabilities: Capability[];
}

/** The interface, opsets, op histogram and parameter count. */
export function describeModel(model: Model): ModelDescription {
  const g = model.graph;
  const initializerNames = new Set(g.initializers.map((t) => t.name));
  const summarize = (v: { name: string; elemType: DataType; shape?: Dim[] }): ValueSummary => ({
    name: v.name,
    type: v.elemType === DataType.UNDEFINED ? "non-tensor" : dataTypeName(v.elemType),
    shape: v.shape ?? null,
  });
  const ops: Record<string, number> = {};
  for (const n of g.nodes) {
    const key = n.domain && n.domain !== "ai.onnx" ? `${n.domain}.${n.opType}` : n.opType;
    ops[key] = (ops[key] ?? 0) + 1;
  }
  return {
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(" "),
    irVersion: model.irVersion,
    opsets: Object.fromEntries(model.opsetImports.map((o) => [o.domain || "ai.onnx", o.version])),
    inputs: g.inputs.filter((i) => !initializerNames.has(i.name)).map(summarize),
    outputs: g.outputs.map(summarize),
    nodes: g.nodes.length,
    ops: Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    parameters: parameterCount(g),
  };
}

/** The description, what the input means for attacks, and the gradient check (one probe run). */
export async function summarizeModel(model: Model, options: RuntimeOptions = {}): Promise<ModelSummary> {
  const description = describeModel(model);
  const input = inputRole(model);
  const check = input.kind === "unsupported" ? { problems: [], error: input.note, shape: null } : await gradientCheck(model, options);
  const differentiable = check.error === undefined && check.problems.length === 0;
  const capabilities: Capability[] =
    input.kind === "token-ids"
      ? ["predictTokens", ...(differentiable ? (["embeddingGradient"] as const) : [])]
      : input.kind === "continuous"
        ? ["predict", ...(differentiable ? (["lossGradient", "classGradient"] as const) : [])]
        : [];
  return {
    ...description,
    input,
    differentiable,
    nonDifferentiable: check.problems,
    ...(check.error ? { gradientError: check.error } : {}),
    probedShape: check.shape,
    capabilities,
  };
}

function inputRole(model: Model): InputRole {
  try {
    const site = findEmbedding(model);
    if (!site) {
      return {
        kind: "continuous",
        note: "attacks perturb the input's values, kept inside --clip (default [0, 1]); gradients are taken with respect to the input",
      };
    }
    const zero = zeroRows(model, site);
    const padding =
      zero.length > 0 && zero.length <= 5
        ? `; ${zero.length === 1 ? `id ${zero[0]} has an all-zero embedding` : `ids ${zero.join(", ")} have all-zero embeddings`}, as PyTorch leaves a padding_idx: keep them out of substitutions with --param frozenTokens=${zero.join(",")} (and your tokenizer's special ids)`
        : "";
    return {
      kind: "token-ids",
      note: `token ids into the embedding "${site.table}" (${site.vocabulary} tokens × ${site.dimension}): gradients are taken with respect to the embedding output; the text attacks (hotflip, embedding-pgd) substitute tokens and report which, and attacks on continuous inputs do not apply${padding}`,
      embedding: { table: site.table, vocabulary: site.vocabulary, dimension: site.dimension, zeroRows: zero },
    };
  } catch (e) {
    if (e instanceof AegisError) return { kind: "unsupported", note: e.message };
    throw e;
  }
}

/** Ids whose embedding row is all zeros: PyTorch's padding_idx row, which training leaves at zero. */
function zeroRows(model: Model, site: EmbeddingSite): number[] {
  const table = model.graph.initializers.find((t) => t.name === site.table)?.data;
  const d = site.dimension;
  if (!(table instanceof Float32Array) || table.length !== site.vocabulary * d) return [];
  const ids: number[] = [];
  for (let id = 0; id < site.vocabulary; id++) if (table.subarray(id * d, (id + 1) * d).every((v) => v === 0)) ids.push(id);
  return ids;
}

/** Builds grad's gradient graph at a probe shape, collecting the nodes it cannot pass. */
async function gradientCheck(model: Model, options: RuntimeOptions): Promise<{ problems: GradientProblem[]; error?: string; shape: number[] | null }> {
  const problems: GradientProblem[] = [];
  let opened: OnnxClassifier | TokenClassifier | undefined;
  try {
    opened = await openClassifier(model, { ...options, batchSize: PROBE_BATCH });
    const tokens = opened instanceof TokenClassifier ? opened : undefined;
    const clf = tokens ? tokens.embedded : (opened as OnnxClassifier);
    const own = (tokens ?? clf).inputShape.map((d) => (d > 0 ? d : PROBE_LENGTH));
    const shape = [clf.declaredBatch ?? PROBE_BATCH, ...own];
    const x = tokens
      ? tokens.embeddedInput(probeIds(shape, tokens.vocabulary), tokens.embed(probeIds(shape, tokens.vocabulary)))
      : probeValues(shape, clf.clipRange);
    const batch = shape[0];
    const sample = { x, targets: clf.oneHot(new Array<number>(batch).fill(0)), weights: new Float32Array(batch).fill(1) };
    await clf.gradientGraph(crossEntropy, { input: true }, x.shape, sample, undefined, problems);
    return { problems, shape };
  } catch (e) {
    if (e instanceof AegisError) return { problems, error: e.message, shape: null };
    throw e;
  } finally {
    await opened?.release();
  }
}

const PROBE_BATCH = 2;
/** Free dimensions other than the batch (sequence lengths) are probed at this size. */
const PROBE_LENGTH = 8;

/** Ids 1, 2, … (0 is often padding), wrapped to the vocabulary. */
function probeIds(shape: readonly number[], vocabulary: number): Tensor<"float32"> {
  const n = shape.reduce((a, c) => a * c, 1);
  return float32(
    shape,
    Array.from({ length: n }, (_, i) => 1 + (i % Math.max(1, vocabulary - 1))),
  );
}

/** Values spread over the clip range (a finite stand-in when it is unbounded). */
function probeValues(shape: readonly number[], [lo, hi]: readonly [number, number]): Tensor<"float32"> {
  const n = shape.reduce((a, c) => a * c, 1);
  const low = Number.isFinite(lo) ? lo : -1;
  const span = (Number.isFinite(hi) ? hi : low + 2) - low;
  return float32(
    shape,
    Array.from({ length: n }, (_, i) => low + span * (((i * 0.618034) % 1) * 0.8 + 0.1)),
  );
}
