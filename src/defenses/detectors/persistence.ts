/**
 * Fitted detectors on disk: one JSON file holding the detector's kind, parameters and
 * threshold, its arrays (Mahalanobis means and precision as little-endian float64; the
 * k-NN feature bank as float32, half the size — 5,000 × 128 penultimate features of the
 * MNIST CNN are 2.6 MB, 3.4 MB as base64; STRIP's overlay images as float32 too) in base64, and the SHA-256 of the ONNX model file
 * it was fitted on, so that loading it with another model fails instead of scoring with
 * statistics of the wrong network. A Mahalanobis ensemble keeps each layer's statistics
 * (arrays means.<i>, precision.<i>) and the regression's weights in its params; a file
 * without `params.layers` is a single-layer detector, as all files were before ensembles.
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { readPlaintext } from "../../encryption/index.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { createFeatureExtractor, type FeatureExtractor } from "../../engine/features.js";
import type { RuntimeOptions } from "../../engine/runtime.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/io.js";
import { type CombinedDetector, combinedDetector } from "./combined.js";
import { type FeatureSqueezingDetector, featureSqueezingDetector, type Squeezer } from "./feature-squeezing.js";
import { type FeatureBank, type FeatureSource, INPUT_LAYER, inputFeatures, type KnnOodDetector, knnOodDetector, layerFeatures } from "./knn-ood.js";
import {
  isMahalanobisEnsemble,
  type LogisticRegression,
  type MahalanobisDetector,
  type MahalanobisEnsembleDetector,
  type MahalanobisStatistics,
  mahalanobisDetector,
  mahalanobisEnsembleDetector,
} from "./mahalanobis.js";
import { STRIP_SUPERIMPOSITION, type StripDetector, stripDetector } from "./strip.js";

export const DETECTOR_FORMAT = "aegis-detector";

export type FittedDetector = FeatureSqueezingDetector | MahalanobisDetector | MahalanobisEnsembleDetector | KnnOodDetector | CombinedDetector | StripDetector;

const DETECTOR_KINDS: readonly string[] = ["feature-squeezing", "mahalanobis", "knn-ood", "combined", "strip"] satisfies FittedDetector["name"][];

interface EncodedArray {
  dtype: "float64" | "float32";
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

/** The file's bytes, decrypted in memory when `aegis encrypt` wrote it: a detector is bound to the plaintext model. */
function readBytes(path: string, what: string): Buffer {
  try {
    return readPlaintext(path);
  } catch (e) {
    if (e instanceof AegisError) throw e;
    throw new AegisError("FILE_NOT_FOUND", `Cannot read the ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path.`, {
      cause: e,
    });
  }
}

function encodeArray(data: Float64Array | Float32Array, shape: number[]): EncodedArray {
  const dtype = data instanceof Float32Array ? "float32" : "float64";
  return { dtype, shape, base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64") };
}

function decodeArray(a: EncodedArray | undefined, name: string, path: string): Float64Array;
function decodeArray(a: EncodedArray | undefined, name: string, path: string, dtype: "float32"): Float32Array;
function decodeArray(a: EncodedArray | undefined, name: string, path: string, dtype: "float32" | "float64" = "float64"): Float64Array | Float32Array {
  if (a?.dtype !== dtype || typeof a.base64 !== "string" || !Array.isArray(a.shape)) throw damaged(path, `array "${name}" is missing or not ${dtype}`);
  const bytes = Buffer.from(a.base64, "base64");
  const expected = a.shape.reduce((x, y) => x * y, 1);
  const width = dtype === "float64" ? 8 : 4;
  if (bytes.byteLength !== expected * width) throw damaged(path, `array "${name}" has ${bytes.byteLength / width} values for shape [${a.shape.join(", ")}]`);
  // Copy into an aligned buffer: a Buffer's offset need not be a multiple of the element size.
  const out = dtype === "float64" ? new Float64Array(expected) : new Float32Array(expected);
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
  if (detector.name === "combined") {
    // Members are stored as their own documents, their arrays under "member.<i>.<name>".
    const arrays: Record<string, EncodedArray> = {};
    const members = detector.members.map((m, i) => {
      const encoded = encodeDetector(m as FittedDetector, model, fitted);
      for (const [key, value] of Object.entries(encoded.arrays ?? {})) arrays[`member.${i}.${key}`] = value;
      arrays[`reference.${i}`] = encodeArray(detector.references[i], [detector.references[i].length]);
      return { detector: encoded.detector, params: encoded.params };
    });
    return { ...base, params: { members }, arrays };
  }
  if (detector.name === "strip") {
    const o = detector.overlays;
    return { ...base, params: { overlays: o.shape[0], superimposition: STRIP_SUPERIMPOSITION }, arrays: { overlays: encodeArray(o.data, [...o.shape]) } };
  }
  if (detector.name === "knn-ood") {
    const b = detector.bank;
    return { ...base, params: { layer: b.layer, k: detector.k, dim: b.dim, size: b.size }, arrays: { bank: encodeArray(b.features, [b.size, b.dim]) } };
  }
  if (isMahalanobisEnsemble(detector)) {
    const arrays: Record<string, EncodedArray> = {};
    detector.members.forEach((m, i) => {
      const s = m.statistics;
      arrays[`means.${i}`] = encodeArray(s.means, [s.classes.length, s.dim]);
      arrays[`precision.${i}`] = encodeArray(s.precision, [s.dim, s.dim]);
    });
    return {
      ...base,
      params: {
        layers: detector.members.map((m) => ({ layer: m.statistics.layer, classes: m.statistics.classes, dim: m.statistics.dim })),
        noiseMagnitude: detector.noiseMagnitude,
        regression: detector.regression,
        fittedAgainst: detector.fittedAgainst,
      },
      arrays,
    };
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
  if (!DETECTOR_KINDS.includes(file.detector)) throw damaged(path, `unknown detector "${String(file.detector)}"`);
  if (typeof file.threshold !== "number") throw damaged(path, "no threshold");
  return file;
}

/**
 * Loads a detector for the model file it was fitted on; another model (by SHA-256) is
 * refused with BAD_MODEL. `features`, when it reads the layer a k-NN OOD detector was
 * fitted on, replaces the detector's own extractor (the guard shares one forward pass
 * between a route's predictions and its detector).
 */
export async function loadDetector(
  path: string,
  modelPath: string,
  runtime: RuntimeOptions & { batchSize?: number } = {},
  options: { features?: FeatureSource } = {},
): Promise<LoadedDetector> {
  const file = readDetectorFile(path);
  const bytes = readBytes(modelPath, "model");
  const digest = sha256Of(bytes);
  if (digest !== file.model.sha256) {
    throw new AegisError(
      "BAD_MODEL",
      `${path} was fitted on the model ${file.model.file} (SHA-256 ${file.model.sha256.slice(0, 12)}…), not on ${basename(modelPath)} (${digest.slice(0, 12)}…); fit a detector for this model with aegis detect fit.`,
    );
  }
  return loadFitted(file, path, modelPath, runtime, options);
}

async function loadFitted(
  file: DetectorFile,
  path: string,
  modelPath: string,
  runtime: RuntimeOptions & { batchSize?: number },
  options: { features?: FeatureSource },
): Promise<LoadedDetector> {
  const fpr = file.fpr ?? Number.NaN;
  if (file.detector === "combined") return loadCombined(file, path, modelPath, runtime);
  if (file.detector === "feature-squeezing") {
    const model = await OnnxClassifier.fromFile(modelPath, runtime);
    const p = file.params as { squeezers: Squeezer[]; channelsFirst: boolean };
    const detector = featureSqueezingDetector(model, { squeezers: p.squeezers, channelsFirst: p.channelsFirst, threshold: file.threshold, fpr });
    return { detector, file, release: () => model.release() };
  }
  if (file.detector === "strip") {
    const shape = file.arrays?.overlays?.shape;
    const overlays = decodeArray(file.arrays?.overlays, "overlays", path, "float32");
    if (!Array.isArray(shape) || shape.length < 2) throw damaged(path, "STRIP's overlays have no sample shape");
    // Its threshold was set on another statistic: an older Aegis summed without saturating.
    if ((file.params as { superimposition?: string }).superimposition !== STRIP_SUPERIMPOSITION)
      throw damaged(path, "a STRIP detector fitted before its superimposition saturated");
    const model = await OnnxClassifier.fromFile(modelPath, runtime);
    const detector = stripDetector(model, { dtype: "float32", shape, data: overlays }, { threshold: file.threshold, fpr });
    return { detector, file, release: () => model.release() };
  }
  if (file.detector === "knn-ood") {
    const p = file.params as { layer: string; k: number };
    const bank = knnOodBank(file, path);
    if (p.layer === INPUT_LAYER) return inputSpaceDetector(file, bank);
    if (options.features?.layer === p.layer) {
      return { detector: knnOodDetector(options.features, bank, { k: p.k, threshold: file.threshold, fpr }), file, release: async () => {} };
    }
    const extractor = await createFeatureExtractor(loadModel(modelPath), { ...runtime, layer: p.layer });
    const detector = knnOodDetector(layerFeatures(extractor), bank, { k: p.k, threshold: file.threshold, fpr });
    return { detector, file, release: () => extractor.release() };
  }
  if (Array.isArray((file.params as { layers?: unknown }).layers)) return loadMahalanobisEnsemble(file, path, modelPath, runtime);
  const p = file.params as { layer: string; classes: number[]; dim: number; noiseMagnitude: number };
  const statistics = mahalanobisStatistics(file, path, p, "means", "precision");
  const extractor = await createFeatureExtractor(loadModel(modelPath), { ...runtime, layer: p.layer });
  const detector = mahalanobisDetector(extractor, statistics, { noiseMagnitude: p.noiseMagnitude, threshold: file.threshold, fpr });
  return { detector, file, release: () => extractor.release() };
}

async function loadCombined(file: DetectorFile, path: string, modelPath: string, runtime: RuntimeOptions & { batchSize?: number }): Promise<LoadedDetector> {
  const members = (file.params as { members?: { detector: FittedDetector["name"]; params: Record<string, unknown> }[] }).members;
  if (!Array.isArray(members) || members.length === 0) throw damaged(path, "a combined detector without members");
  const loaded: LoadedDetector[] = [];
  const release = async () => {
    for (const m of loaded) await m.release();
  };
  try {
    for (let i = 0; i < members.length; i++) {
      const prefix = `member.${i}.`;
      const arrays = Object.fromEntries(
        Object.entries(file.arrays ?? {})
          .filter(([key]) => key.startsWith(prefix))
          .map(([key, value]) => [key.slice(prefix.length), value]),
      );
      if (!DETECTOR_KINDS.includes(members[i].detector) || members[i].detector === "combined")
        throw damaged(path, `member ${i} is not a detector Aegis can combine`);
      const memberFile: DetectorFile = {
        ...file,
        detector: members[i].detector,
        params: members[i].params,
        arrays,
        threshold: Number.POSITIVE_INFINITY,
        fpr: null,
      };
      loaded.push(await loadFitted(memberFile, path, modelPath, runtime, {}));
    }
  } catch (e) {
    await release();
    throw e;
  }
  const references = members.map((_, i) => decodeArray(file.arrays?.[`reference.${i}`], `reference.${i}`, path, "float32"));
  const detector = combinedDetector(
    loaded.map((m) => m.detector),
    references,
    { threshold: file.threshold, fpr: file.fpr ?? Number.NaN },
  );
  return { detector, file, release };
}

function mahalanobisStatistics(
  file: DetectorFile,
  path: string,
  p: { layer: string; classes: number[]; dim: number },
  meansKey: string,
  precisionKey: string,
): MahalanobisStatistics {
  const statistics: MahalanobisStatistics = {
    layer: p.layer,
    classes: p.classes,
    dim: p.dim,
    means: decodeArray(file.arrays?.[meansKey], meansKey, path),
    precision: decodeArray(file.arrays?.[precisionKey], precisionKey, path),
  };
  if (statistics.means.length !== p.classes.length * p.dim || statistics.precision.length !== p.dim * p.dim)
    throw damaged(path, `array shapes of layer "${p.layer}" do not match dim`);
  return statistics;
}

async function loadMahalanobisEnsemble(
  file: DetectorFile,
  path: string,
  modelPath: string,
  runtime: RuntimeOptions & { batchSize?: number },
): Promise<LoadedDetector> {
  const p = file.params as {
    layers: { layer: string; classes: number[]; dim: number }[];
    noiseMagnitude: number;
    regression: LogisticRegression;
    fittedAgainst: string;
  };
  if (!Array.isArray(p.regression?.weights) || p.regression.weights.length !== p.layers.length || typeof p.regression.bias !== "number")
    throw damaged(path, "the regression does not have one weight per layer");
  const statistics = p.layers.map((layer, i) => mahalanobisStatistics(file, path, layer, `means.${i}`, `precision.${i}`));
  const model = loadModel(modelPath);
  const extractors: FeatureExtractor[] = [];
  try {
    for (const s of statistics) extractors.push(await createFeatureExtractor(model, { ...runtime, layer: s.layer }));
  } catch (e) {
    for (const extractor of extractors) await extractor.release();
    throw e;
  }
  const members = statistics.map((s, i) => mahalanobisDetector(extractors[i], s, { noiseMagnitude: p.noiseMagnitude, threshold: Number.POSITIVE_INFINITY }));
  const detector = mahalanobisEnsembleDetector(members, p.regression, {
    threshold: file.threshold,
    fpr: file.fpr ?? Number.NaN,
    fittedAgainst: p.fittedAgainst,
  });
  return {
    detector,
    file,
    release: async () => {
      for (const extractor of extractors) await extractor.release();
    },
  };
}

/**
 * Loads a k-NN OOD detector fitted on the raw input (`--layer input`) without its model: it
 * holds statistics of the data, not of a network, so it can watch a route whose model runs
 * elsewhere (a guard's upstream). Any other detector needs its model: use loadDetector.
 */
export function loadInputSpaceDetector(path: string): LoadedDetector {
  const file = readDetectorFile(path);
  if (file.detector !== "knn-ood" || (file.params as { layer?: string }).layer !== INPUT_LAYER) {
    throw new AegisError(
      "BAD_OPTION",
      `${path} reads the model's own layers (${file.detector}), so it needs the model file; for a route whose model runs elsewhere fit one on the raw input: aegis detect fit --detector knn-ood --layer ${INPUT_LAYER}`,
    );
  }
  return inputSpaceDetector(file, knnOodBank(file, path));
}

function knnOodBank(file: DetectorFile, path: string): FeatureBank {
  const p = file.params as { layer: string; dim: number; size: number };
  const bank: FeatureBank = { layer: p.layer, dim: p.dim, size: p.size, features: decodeArray(file.arrays?.bank, "bank", path, "float32") };
  if (bank.features.length !== p.size * p.dim) throw damaged(path, "the bank's shape does not match size × dim");
  return bank;
}

function inputSpaceDetector(file: DetectorFile, bank: FeatureBank): LoadedDetector {
  const detector = knnOodDetector(inputFeatures, bank, { k: (file.params as { k: number }).k, threshold: file.threshold, fpr: file.fpr ?? Number.NaN });
  return { detector, file, release: async () => {} };
}
