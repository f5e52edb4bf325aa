/**
 * A model that takes token ids (an int64 or int32 input into an embedding lookup) as a
 * classifier over embeddings. Token ids have no gradient; what text attacks need is the
 * gradient with respect to the embedding output (HotFlip's first-order flip scores,
 * embedding-space PGD). So the graph is cut at the embedding Gather: its table [V, D] is
 * read out, and the rest of the graph becomes an OnnxClassifier whose float input is the
 * embedded sequence [B, T, D]. Where the rest still reads the ids (an attention mask made
 * from `ids != pad`, positions from their shape), they ride along as one more channel of
 * that input ([B, T, D + 1]) and are cast back inside the graph, so the classifier keeps
 * one input and its gradient is the embedding gradient plus a zero channel.
 *
 * Ids travel as float32 tensors (the datasets' type), exact up to 2^24.
 */
import { AegisError } from "../errors.js";
import { GraphBuilder } from "../onnx/builder.js";
import { loadModel } from "../onnx/io.js";
import { attr, cloneModel, DataType, defaultOpset, getInt, type Model, type Node } from "../onnx/ir.js";
import { float32, type Tensor } from "../tensor.js";
import type { EmbeddingGradient, Labels, LossOptions } from "./capabilities.js";
import { OnnxClassifier, type OnnxClassifierOptions } from "./classifier.js";

/** Where a token-id model's ids go in: the embedding table and the lookup's output. */
export interface EmbeddingSite {
  /** The integer graph input. */
  ids: string;
  /** The initializer holding the table [V, D]. */
  table: string;
  /** The Gather node doing the lookup, and its output. */
  node: Node;
  vocabulary: number;
  dimension: number;
  /** Whether the graph reads the ids anywhere but the lookup (masks, positions). */
  idsReadElsewhere: boolean;
}

const INTEGER_INPUTS = new Set([DataType.INT64, DataType.INT32]);

/** The embedding lookup of a model whose one data input is integer token ids; undefined when its input is not integer. */
export function findEmbedding(model: Model): EmbeddingSite | undefined {
  const graph = model.graph;
  const initializerNames = new Set(graph.initializers.map((t) => t.name));
  const dataInputs = graph.inputs.filter((i) => !initializerNames.has(i.name));
  const integer = dataInputs.filter((i) => INTEGER_INPUTS.has(i.elemType));
  if (integer.length === 0) return undefined;
  if (dataInputs.length !== 1) {
    throw new AegisError(
      "UNSUPPORTED",
      `the model has ${dataInputs.length} inputs (${dataInputs.map((i) => i.name).join(", ")}); Aegis takes token-id models with the ids as their only input (export with the attention mask computed inside the model)`,
    );
  }
  const ids = integer[0].name;
  // The ids, and integer casts of them, as the exporter may index with int32 or int64.
  const idValues = new Set([ids]);
  for (const n of graph.nodes) {
    if (n.opType === "Cast" && idValues.has(n.inputs[0]) && INTEGER_INPUTS.has(getInt(n, "to", 0))) idValues.add(n.outputs[0]);
  }
  const lookups = graph.nodes.filter((n) => {
    if (n.opType !== "Gather" || !idValues.has(n.inputs[1]) || getInt(n, "axis", 0) !== 0) return false;
    const table = graph.initializers.find((t) => t.name === n.inputs[0]);
    return table !== undefined && table.dims.length === 2 && (table.dataType === DataType.FLOAT || table.dataType === DataType.DOUBLE);
  });
  if (lookups.length !== 1) {
    throw new AegisError(
      "UNSUPPORTED",
      lookups.length === 0
        ? `the model's integer input "${ids}" does not go into an embedding (a Gather from a [vocabulary × dimension] weight), so there is no embedding to take gradients in; Aegis attacks integer inputs only as token ids`
        : `the model's token ids go into ${lookups.length} embedding tables (${lookups.map((n) => n.inputs[0]).join(", ")}); Aegis attacks models with one`,
    );
  }
  const node = lookups[0];
  const table = graph.initializers.find((t) => t.name === node.inputs[0]);
  if (!table || table.dataType !== DataType.FLOAT) throw new AegisError("UNSUPPORTED", `the embedding table "${node.inputs[0]}" is not float32`);
  const readers = graph.nodes.filter((n) => n !== node && n.inputs.some((i) => idValues.has(i)) && !(n.opType === "Cast" && idValues.has(n.outputs[0])));
  return { ids, table: table.name, node, vocabulary: table.dims[0], dimension: table.dims[1], idsReadElsewhere: readers.length > 0 };
}

/**
 * The model from the embedding output on: its input "aegis/embedded" is [B, T, D], or
 * [B, T, D + 1] with the ids (as floats) in the last channel when the graph reads them elsewhere.
 */
export function modelAfterEmbedding(model: Model, site: EmbeddingSite): Model {
  const tail = cloneModel(model);
  const graph = tail.graph;
  const idsInput = graph.inputs.find((i) => i.name === site.ids);
  const [batchDim, seqDim] = idsInput?.shape ?? ["batch", "sequence"];
  const width = site.dimension + (site.idsReadElsewhere ? 1 : 0);
  const input = "aegis/embedded";
  const embedding = site.node.outputs[0];
  graph.nodes = graph.nodes.filter((n) => !n.outputs.includes(embedding));
  // The table stays only where the graph still reads it (a tied output projection).
  if (!graph.nodes.some((n) => n.inputs.includes(site.table))) graph.initializers = graph.initializers.filter((t) => t.name !== site.table);
  graph.inputs = graph.inputs.filter((i) => i.name !== site.ids);
  graph.inputs.unshift({ name: input, elemType: DataType.FLOAT, shape: [batchDim ?? "batch", seqDim ?? "sequence", width] });
  const b = new GraphBuilder(graph, defaultOpset(tail), "embedded");
  const before = graph.nodes.length;
  if (site.idsReadElsewhere) {
    b.node("Slice", [input, b.int64s([0]), b.int64s([site.dimension]), b.int64s([2])], {}, [embedding]);
    const channel = b.op("Gather", [input, b.initializer(DataType.INT64, [], BigInt64Array.of(BigInt(site.dimension)), "ids_channel")], { axis: attr.int(2) });
    b.node("Cast", [channel], { to: attr.int(idsInput?.elemType ?? DataType.INT64) }, [site.ids]);
  } else {
    b.node("Identity", [input], {}, [embedding]);
  }
  // The new nodes were appended; they come first (topological order).
  graph.nodes.unshift(...graph.nodes.splice(before));
  return tail;
}

export class TokenClassifier implements EmbeddingGradient {
  /** [T], the sequence length (−1 when the model takes any). */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** Token ids run from 0 to the vocabulary size − 1. */
  readonly clipRange: readonly [number, number];
  readonly outputKind: "logits" | "probs";
  readonly vocabulary: number;
  readonly dimension: number;
  /** The embedding table, row-major [vocabulary, dimension]. */
  readonly table: Float32Array;
  readonly site: EmbeddingSite;
  /** The classifier over embeddings, whose gradients attacks take. */
  readonly embedded: OnnxClassifier;

  static fromFile(path: string, options: OnnxClassifierOptions = {}): Promise<TokenClassifier> {
    return TokenClassifier.create(loadModel(path), options);
  }

  static async create(model: Model, options: OnnxClassifierOptions = {}): Promise<TokenClassifier> {
    const site = findEmbedding(model);
    if (!site) throw new AegisError("UNSUPPORTED", "the model's input is not integer token ids");
    const tail = modelAfterEmbedding(model, site);
    const table = model.graph.initializers.find((t) => t.name === site.table)?.data as Float32Array;
    const embedded = await OnnxClassifier.create(tail, {
      ...options,
      preprocessing: undefined,
      clipRange: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
    });
    return new TokenClassifier(site, Float32Array.from(table), embedded);
  }

  private constructor(site: EmbeddingSite, table: Float32Array, embedded: OnnxClassifier) {
    this.site = site;
    this.table = table;
    this.embedded = embedded;
    this.vocabulary = site.vocabulary;
    this.dimension = site.dimension;
    this.inputShape = [embedded.inputShape[0]];
    this.numClasses = embedded.numClasses;
    this.outputKind = embedded.outputKind;
    this.clipRange = [0, site.vocabulary - 1];
  }

  /** The embedding of every token, [N, T, D]. */
  embed(ids: Tensor<"float32">): Tensor<"float32"> {
    this.checkIds(ids);
    const d = this.dimension;
    const out = new Float32Array(ids.data.length * d);
    for (let i = 0; i < ids.data.length; i++) out.set(this.table.subarray(ids.data[i] * d, (ids.data[i] + 1) * d), i * d);
    return float32([...ids.shape, d], out);
  }

  async predict(ids: Tensor<"float32">): Promise<Tensor<"float32">> {
    return this.embedded.predict(this.embeddedInput(ids, this.embed(ids)));
  }

  /**
   * The per-sample losses, outputs and ∂(Σ loss)/∂embedding [N, T, D] at `embedding` (the ids'
   * own embedding, or a perturbed one); `ids` are what the rest of the graph reads (masks).
   */
  async embeddingGradient(
    ids: Tensor<"float32">,
    embedding: Tensor<"float32">,
    y: Labels,
    options: LossOptions = {},
  ): Promise<{ loss: Float32Array; output: Tensor<"float32">; grad: Tensor<"float32"> }> {
    const r = await this.embedded.valueAndGradient(this.embeddedInput(ids, embedding), y, options);
    return { loss: r.loss, output: r.output, grad: this.withoutIdsChannel(r.grad) };
  }

  /** ∂(Σ output[cls])/∂embedding at the ids' own embedding. */
  async embeddingClassGradient(ids: Tensor<"float32">, cls: Labels): Promise<Tensor<"float32">> {
    return this.withoutIdsChannel(await this.embedded.classGradient(this.embeddedInput(ids, this.embed(ids)), cls));
  }

  release(): Promise<void> {
    return this.embedded.release();
  }

  /** The classifier's input: the embedding, with the ids as one more channel when the graph reads them. */
  embeddedInput(ids: Tensor<"float32">, embedding: Tensor<"float32">): Tensor<"float32"> {
    if (!this.site.idsReadElsewhere) return embedding;
    const d = this.dimension;
    const out = new Float32Array(ids.data.length * (d + 1));
    for (let i = 0; i < ids.data.length; i++) {
      out.set(embedding.data.subarray(i * d, (i + 1) * d), i * (d + 1));
      out[i * (d + 1) + d] = ids.data[i];
    }
    return float32([...ids.shape, d + 1], out);
  }

  private withoutIdsChannel(grad: Tensor<"float32">): Tensor<"float32"> {
    if (!this.site.idsReadElsewhere) return grad;
    const d = this.dimension;
    const n = grad.data.length / (d + 1);
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) out.set(grad.data.subarray(i * (d + 1), i * (d + 1) + d), i * d);
    return float32([...grad.shape.slice(0, -1), d], out);
  }

  private checkIds(ids: Tensor<"float32">): void {
    if (ids.shape.length !== 2) {
      throw new AegisError(
        "SHAPE_MISMATCH",
        `token ids must be [samples, sequence], not [${ids.shape.join(", ")}]; save them as an int64 array x of that shape`,
      );
    }
    const t = this.inputShape[0];
    if (t > 0 && ids.shape[1] !== t)
      throw new AegisError("SHAPE_MISMATCH", `the model takes sequences of ${t} tokens, the data has ${ids.shape[1]}; pad or cut them to ${t}`);
    for (let i = 0; i < ids.data.length; i++) {
      const v = ids.data[i];
      if (!Number.isInteger(v) || v < 0 || v >= this.vocabulary) {
        throw new AegisError(
          "BAD_DATA",
          `token ${Math.floor(i / ids.shape[1])}:${i % ids.shape[1]} is ${v}, outside the vocabulary 0..${this.vocabulary - 1} of the model's embedding "${this.site.table}"`,
        );
      }
    }
  }
}

/** An ONNX file as the classifier its input calls for: token ids get a TokenClassifier, float inputs an OnnxClassifier. */
export async function openClassifier(model: Model, options: OnnxClassifierOptions = {}): Promise<OnnxClassifier | TokenClassifier> {
  return findEmbedding(model) ? TokenClassifier.create(model, options) : OnnxClassifier.create(model, options);
}
