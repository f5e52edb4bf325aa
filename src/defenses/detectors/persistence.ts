/**
 * Fitted detectors on disk: one JSON file holding the detector's kind, parameters and
 * threshold, its arrays (Mahalanobis means and precision) as base64 of little-endian
 * float64, and the SHA-256 of the ONNX model file it was fitted on, so that loading it
 * with another model fails instead of scoring with statistics of the wrong network.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { OnnxClassifier } from "../../engine/classifier.js";
import { createFeatureExtractor } from "../../engine/features.js";
import type { RuntimeOptions } from "../../engine/runtime.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/io.js";
import { type FeatureSqueezingDetector, featureSqueezingDetector, type Squeezer } from "./feature-squeezing.js";
import { type MahalanobisDetector, type MahalanobisStatistics, mahalanobisDetector } from "./mahalanobis.js";

export const DETECTOR_FORMAT = "aegis-detector";

export type FittedDetector = FeatureSqueezingDetector | MahalanobisDetector;

interface EncodedArray {
  dtype: "float64";
  shape: number[];
  base64: string;
}

export interface DetectorFile {
  format: typeof DETECTOR_FORMAT;
  version: 1;
  detector: FittedDetector["name"];
  model: { file: string; sha256: string };
  threshold: number;
  /** False-positive rate on clean data the threshold was set at. */
  fpr: number | null;
  /** What the detector was fitted on (for the record). */
  fitted: { data: string; samples: number };
  params: Record<string, unknown>;
  arrays?: Record<string, EncodedArray>;
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `Cannot read the ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path.`, {
      cause: e,
    });
  }
}

function encodeArray(data: Float64Array, shape: number[]): EncodedArray {
  return { dtype: "float64", shape, base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64") };
}

function decodeArray(a: EncodedArray | undefined, name: string, path: string): Float64Array {
  if (a?.dtype !== "float64" || typeof a.base64 !== "string") throw damaged(path, `array "${name}" is missing or not float64`);
  const bytes = Buffer.from(a.base64, "base64");
  const expected = a.shape.reduce((x, y) => x * y, 1);
  if (bytes.byteLength !== expected * 8) throw damaged(path, `array "${name}" has ${bytes.byteLength / 8} values for shape [${a.shape.join(", ")}]`);
  // Copy into an aligned buffer: a Buffer's offset need not be a multiple of 8.
  const out = new Float64Array(expected);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function damaged(path: string, why: string): AegisError {
  return new AegisError("BAD_DATA", `${path} is not a valid Aegis detector file (${why}); refit it with aegis detect fit.`);
}

/** The detector as the JSON document saveDetector writes. */
export function encodeDetector(detector: FittedDetector, model: { file: string; bytes: Uint8Array }, fitted: { data: string; samples: number }): DetectorFile {
  const base = {
    format: DETECTOR_FORMAT as typeof DETECTOR_FORMAT,
    version: 1 as const,
    detector: detector.name,
    model: { file: basename(model.file), sha256: sha256Of(model.bytes) },
    threshold: detector.threshold,
    fpr: Number.isFinite(detector.fpr) ? detector.fpr : null,
    fitted,
  };
  if (detector.name === "feature-squeezing") {
    return { ...base, params: { squeezers: detector.squeezers, channelsFirst: detector.channelsFirst } };
  }
  const s = detector.statistics;
  return {
    ...base,
    params: { layer: s.layer, classes: s.classes, dim: s.dim, noiseMagnitude: detector.noiseMagnitude },
    arrays: { means: encodeArray(s.means, [s.classes.length, s.dim]), precision: encodeArray(s.precision, [s.dim, s.dim]) },
  };
}

export function saveDetector(path: string, detector: FittedDetector, modelPath: string, fitted: { data: string; samples: number }): DetectorFile {
  const file = encodeDetector(detector, { file: modelPath, bytes: readBytes(modelPath, "model") }, fitted);
  writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
  return file;
}

export interface LoadedDetector {
  detector: FittedDetector;
  file: DetectorFile;
  /** Releases the ONNX Runtime sessions the detector holds. */
  release(): Promise<void>;
}

export function readDetectorFile(path: string): DetectorFile {
  let file: DetectorFile;
  try {
    file = JSON.parse(readBytes(path, "detector file").toString("utf8"));
  } catch (e) {
    if (e instanceof AegisError) throw e;
    throw damaged(path, "not JSON");
  }
  if (file?.format !== DETECTOR_FORMAT || file.version !== 1) throw damaged(path, "no aegis-detector version 1 header");
  if (file.detector !== "feature-squeezing" && file.detector !== "mahalanobis") throw damaged(path, `unknown detector "${String(file.detector)}"`);
  if (typeof file.threshold !== "number") throw damaged(path, "no threshold");
  return file;
}

/**
 * Loads a detector for the model file it was fitted on; another model (by SHA-256) is
 * refused with BAD_MODEL.
 */
export async function loadDetector(path: string, modelPath: string, runtime: RuntimeOptions & { batchSize?: number } = {}): Promise<LoadedDetector> {
  const file = readDetectorFile(path);
  const bytes = readBytes(modelPath, "model");
  const digest = sha256Of(bytes);
  if (digest !== file.model.sha256) {
    throw new AegisError(
      "BAD_MODEL",
      `${path} was fitted on the model ${file.model.file} (SHA-256 ${file.model.sha256.slice(0, 12)}…), not on ${basename(modelPath)} (${digest.slice(0, 12)}…); fit a detector for this model with aegis detect fit.`,
    );
  }
  const fpr = file.fpr ?? Number.NaN;
  if (file.detector === "feature-squeezing") {
    const model = await OnnxClassifier.fromFile(modelPath, runtime);
    const p = file.params as { squeezers: Squeezer[]; channelsFirst: boolean };
    const detector = featureSqueezingDetector(model, { squeezers: p.squeezers, channelsFirst: p.channelsFirst, threshold: file.threshold, fpr });
    return { detector, file, release: () => model.release() };
  }
  const p = file.params as { layer: string; classes: number[]; dim: number; noiseMagnitude: number };
  const statistics: MahalanobisStatistics = {
    layer: p.layer,
    classes: p.classes,
    dim: p.dim,
    means: decodeArray(file.arrays?.means, "means", path),
    precision: decodeArray(file.arrays?.precision, "precision", path),
  };
  if (statistics.means.length !== p.classes.length * p.dim || statistics.precision.length !== p.dim * p.dim)
    throw damaged(path, "array shapes do not match dim");
  const extractor = await createFeatureExtractor(loadModel(modelPath), { ...runtime, layer: p.layer });
  const detector = mahalanobisDetector(extractor, statistics, { noiseMagnitude: p.noiseMagnitude, threshold: file.threshold, fpr });
  return { detector, file, release: () => extractor.release() };
}
