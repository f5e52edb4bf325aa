/**
 * Loads the shipped prompt-injection classifier (models/prompt-injection.onnx, trained by
 * scripts/train-prompt-injection.ts; see models/prompt-injection.card.md) once per path,
 * with context mode's own classifier beside it (prompt-injection-context.onnx, see
 * context-model.ts) when there is one, checks that their feature spec matches this build's
 * featuriser, and scores texts with one ONNX Runtime call each.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { loadModel } from "../../onnx/io.js";
import { featureSpecHash } from "./features.js";
import { injectionProbabilities } from "./model.js";

export const MODEL_VERSION = "2.0.0";

/** Where the package ships the model: <package root>/models/prompt-injection.onnx. */
export const DEFAULT_MODEL_PATH = resolve(import.meta.dirname, "../../../models/prompt-injection.onnx");

export interface InjectionModel {
  path: string;
  version: string;
  /** Decision threshold chosen at training time on held-out sources. */
  threshold: number;
  /** Threshold of context mode (window scores of retrieved content), chosen the same way on document sources. */
  contextThreshold: number;
  classifier: OnnxClassifier;
  /** P(injection) of each feature row [n, dim]. */
  score(features: Float32Array, n: number): Promise<Float32Array>;
  /** P(addressed to the assistant) of each window of retrieved content [n, dim]: the context classifier's, else score's. */
  contextScore(features: Float32Array, n: number): Promise<Float32Array>;
}

/** Where context mode's classifier sits beside a prompt-injection model: <name>-context.onnx. */
export function contextModelPath(path: string): string {
  return path.replace(/(\.onnx)?$/, "-context.onnx");
}

const cache = new Map<string, Promise<InjectionModel>>();

export function loadInjectionModel(path: string = DEFAULT_MODEL_PATH): Promise<InjectionModel> {
  const key = resolve(path);
  let loaded = cache.get(key);
  if (!loaded) {
    loaded = open(key);
    // A failed load is not cached, so fixing the file and retrying works.
    loaded.catch(() => cache.delete(key));
    cache.set(key, loaded);
  }
  return loaded;
}

/** The model file's graph and metadata, refused when its features are not this build's. */
function readChecked(path: string): { model: ReturnType<typeof loadModel>; meta: Map<string, string> } {
  const model = loadModel(path);
  const meta = new Map(model.metadata.map((m) => [m.key, m.value]));
  const specHash = meta.get("aegis.feature_spec_hash");
  if (specHash !== featureSpecHash()) {
    throw new AegisError(
      "BAD_MODEL",
      `${path} was trained with feature spec ${specHash ?? "(none)"}, this build featurises with ${featureSpecHash()}; retrain it with scripts/train-prompt-injection.ts`,
    );
  }
  return { model, meta };
}

async function open(path: string): Promise<InjectionModel> {
  if (!existsSync(path)) {
    throw new AegisError(
      "FILE_NOT_FOUND",
      `prompt-injection model ${path} not found; run "node --import tsx scripts/train-prompt-injection.ts" or pass modelPath`,
    );
  }
  const { model, meta } = readChecked(path);
  const threshold = Number(meta.get("aegis.threshold"));
  if (!Number.isFinite(threshold))
    throw new AegisError("BAD_MODEL", `${path} has no aegis.threshold metadata; retrain it with scripts/train-prompt-injection.ts`);
  // Models from before context mode have no context threshold; the prompt threshold stands in.
  const contextThreshold = Number(meta.get("aegis.context_threshold") ?? threshold);
  const classifier = await OnnxClassifier.create(model, { outputKind: "logits" });
  // Models from before the context classifier have none; their context mode uses the prompt classifier.
  const contextPath = contextModelPath(path);
  const contextClassifier = existsSync(contextPath) ? await OnnxClassifier.create(readChecked(contextPath).model, { outputKind: "logits" }) : undefined;
  return injectionModelFrom(classifier, { threshold, contextThreshold }, { path, version: meta.get("aegis.version") ?? "unknown", contextClassifier });
}

/** A classifier in memory as an InjectionModel (one being cross-validated, say), with context mode's own when given. */
export function injectionModelFrom(
  classifier: OnnxClassifier,
  thresholds: { threshold: number; contextThreshold?: number },
  about: { path?: string; version?: string; contextClassifier?: OnnxClassifier } = {},
): InjectionModel {
  const contextClassifier = about.contextClassifier ?? classifier;
  return {
    path: about.path ?? "(in memory)",
    version: about.version ?? "candidate",
    threshold: thresholds.threshold,
    contextThreshold: thresholds.contextThreshold ?? thresholds.threshold,
    classifier,
    score: (features, n) => injectionProbabilities(classifier, features, n),
    contextScore: (features, n) => injectionProbabilities(contextClassifier, features, n),
  };
}
