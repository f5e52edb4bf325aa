/**
 * The model's view of a batch (Observation): for tabular models the raw rows, for the rest
 * the penultimate features read by the engine's feature extractor (the input of the last
 * Gemm/MatMul, exposed as an extra graph output; convolutional maps averaged per channel),
 * and in both cases the predicted class and its probability.
 */
import { createHash } from "node:crypto";
import { readPlaintext } from "../../encryption/index.js";
import {
  createFeatureExtractor,
  inputKind,
  modelAfterEmbedding,
  OnnxClassifier,
  probabilitiesOf,
  type RuntimeOptions,
  TokenClassifier,
} from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { loadModel } from "../../onnx/io.js";
import type { Model } from "../../onnx/ir.js";
import { sizeOf, type Tensor } from "../../tensor.js";
import type { Observation } from "./detector.js";
import type { Samples } from "./mmd.js";

export interface DriftModelOptions extends RuntimeOptions {
  /** Value to read the features from (default: the penultimate layer). */
  layer?: string;
  batchSize?: number;
  /** An `aegis encrypt`ed model's key file (else AEGIS_KEY / AEGIS_KEY_FILE). */
  keyFile?: string;
}

export interface DriftModel {
  /** SHA-256 of the (plaintext) model bytes: a detector is bound to the model it was fitted with. */
  readonly sha256: string;
  /** "features" for tabular rows, "mmd" for everything else. */
  readonly method: "features" | "mmd";
  /** The value the features come from (MMD). */
  readonly layer?: string;
  readonly sampleShape: readonly number[];
  observe(x: Tensor<"float32">): Promise<Observation>;
  release(): Promise<void>;
}

function topClass(probs: Tensor<"float32">): { predicted: Int32Array; confidence: Float64Array } {
  const [n, k] = probs.shape;
  const predicted = new Int32Array(n);
  const confidence = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs.data[i * k + c] > probs.data[i * k + best]) best = c;
    predicted[i] = best;
    confidence[i] = probs.data[i * k + best];
  }
  return { predicted, confidence };
}

/** What a detector sees of a batch: its values [n, D] (inputs or features) with the model's top class and its probability, from probabilities [n, K]. */
export function observationOf(values: Samples, probs: Tensor<"float32">): Observation {
  return { values, ...topClass(probs), classes: probs.shape[1] };
}

/** SHA-256 of a model's plaintext bytes (an encrypted model is decrypted in memory): what a detector file is bound to. */
export function modelSha256(path: string, keyFile?: string): string {
  return createHash("sha256").update(readPlaintext(path, keyFile)).digest("hex");
}

/**
 * A token-id model seen through its own embedding: the ids are looked up in its table, and
 * MMD runs on the penultimate features of the rest of the graph, as it does for images.
 */
async function openTokenDriftModel(model: Model, sha256: string, runtime: RuntimeOptions, options: DriftModelOptions): Promise<DriftModel> {
  const tokens = await TokenClassifier.create(model, { ...runtime, batchSize: options.batchSize });
  try {
    const extractor = await createFeatureExtractor(modelAfterEmbedding(model, tokens.site), { ...runtime, layer: options.layer, batchSize: options.batchSize });
    const sampleShape = tokens.inputShape;
    return {
      sha256,
      method: "mmd",
      layer: extractor.layer,
      sampleShape,
      async observe(ids) {
        const length = ids.shape[1];
        if (ids.shape.length !== 2 || (sampleShape[0] > 0 && sampleShape[0] !== length))
          throw new AegisError(
            "SHAPE_MISMATCH",
            `the data's samples are [${ids.shape.slice(1).join(", ")}], the model takes token ids [${sampleShape.join(", ")}]`,
          );
        const { features, scores } = await extractor.extract(tokens.embeddedInput(ids, tokens.embed(ids)));
        return observationOf({ rows: ids.shape[0], dim: features.shape[1], data: features.data }, probabilitiesOf(tokens.embedded, scores));
      },
      async release() {
        await extractor.release();
        await tokens.release();
      },
    };
  } catch (e) {
    await tokens.release();
    throw e;
  }
}

export async function openDriftModel(path: string, options: DriftModelOptions = {}): Promise<DriftModel> {
  const sha256 = modelSha256(path, options.keyFile);
  const model = loadModel(path, options.keyFile);
  const kind = inputKind(model);
  const runtime: RuntimeOptions = { threads: options.threads, device: options.device };
  if (kind === "tokens") return openTokenDriftModel(model, sha256, runtime, options);
  const classifier = await OnnxClassifier.create(model, { ...runtime, batchSize: options.batchSize });
  const method = kind === "tabular" ? "features" : "mmd";
  const extractor = method === "mmd" ? await createFeatureExtractor(model, { ...runtime, layer: options.layer, batchSize: options.batchSize }) : undefined;
  const sampleShape = classifier.inputShape;
  const checkShape = (x: Tensor<"float32">) => {
    const shape = x.shape.slice(1);
    const fits = shape.length === sampleShape.length && shape.every((d, i) => sampleShape[i] < 0 || sampleShape[i] === d);
    if (!fits) throw new AegisError("SHAPE_MISMATCH", `the data's samples are [${shape.join(", ")}], the model takes [${sampleShape.join(", ")}]`);
  };
  return {
    sha256,
    method,
    layer: extractor?.layer,
    sampleShape,
    async observe(x) {
      checkShape(x);
      const n = x.shape[0];
      if (extractor) {
        const { features, scores } = await extractor.extract(x);
        return observationOf({ rows: n, dim: features.shape[1], data: features.data }, probabilitiesOf(classifier, scores));
      }
      return observationOf({ rows: n, dim: sizeOf(x.shape.slice(1)), data: x.data }, probabilitiesOf(classifier, await classifier.predict(x)));
    },
    async release() {
      await extractor?.release();
      await classifier.release();
    },
  };
}
