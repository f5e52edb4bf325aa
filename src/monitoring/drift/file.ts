/**
 * Drift detectors on disk (`aegis drift fit --out drift.json`): one JSON document with the
 * settings, the SHA-256 and path of the model it was fitted with (relative to the detector's
 * folder, so the two can move together), and the reference as
 * little-endian float32/int32 arrays in base64 (1,000 × 128 penultimate features of the
 * MNIST CNN are 0.7 MB). Loading checks every field, so a damaged or hand-edited file is
 * refused with a sentence, not a crash halfway through a check.
 */
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { AEGIS_VERSION } from "../../version.js";
import type { DriftReference, FeatureSpec, Observation } from "./detector.js";

export const DRIFT_FORMAT = "aegis-drift-detector";

export interface DriftDetectorFile {
  model: { file: string; sha256: string; layer?: string };
  fitted: { data: string; samples: number; sampleShape: number[] };
  detector: DriftReference;
}

interface Encoded {
  dtype: "float32" | "int32";
  shape: number[];
  base64: string;
}

const encode = (data: Float32Array | Int32Array, shape: number[]): Encoded => ({
  dtype: data instanceof Float32Array ? "float32" : "int32",
  shape,
  base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
});

export function saveDriftDetector(path: string, file: DriftDetectorFile): void {
  const { reference, ...settings } = file.detector;
  const document = {
    format: DRIFT_FORMAT,
    version: 1,
    aegis: AEGIS_VERSION,
    model: { ...file.model, file: relative(dirname(resolve(path)), resolve(file.model.file)) },
    fitted: file.fitted,
    settings,
    reference: {
      classes: reference.classes,
      values: encode(reference.values.data, [reference.values.rows, reference.values.dim]),
      predicted: encode(reference.predicted, [reference.predicted.length]),
      confidence: encode(Float32Array.from(reference.confidence), [reference.confidence.length]),
    },
  };
  writeFileAtomic(path, `${JSON.stringify(document)}\n`);
}

export function loadDriftDetector(path: string): DriftDetectorFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AegisError(
      "FILE_NOT_FOUND",
      `Cannot read the drift detector ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); fit one with aegis drift fit.`,
    );
  }
  const damaged = (why: string) => new AegisError("BAD_DATA", `${path} is not a valid Aegis drift detector (${why}); fit it again with aegis drift fit.`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    throw damaged("not JSON");
  }
  if (doc?.format !== DRIFT_FORMAT) throw damaged(`format is not "${DRIFT_FORMAT}"`);
  if (doc.version !== 1) throw damaged(`version ${String(doc.version)}, this Aegis reads version 1`);
  const model = doc.model as DriftDetectorFile["model"];
  const fitted = doc.fitted as DriftDetectorFile["fitted"];
  const settings = doc.settings as Omit<DriftReference, "reference">;
  const ref = doc.reference as { classes: number; values: Encoded; predicted: Encoded; confidence: Encoded };
  if (typeof model?.sha256 !== "string" || typeof model.file !== "string") throw damaged("no model");
  if (!Array.isArray(fitted?.sampleShape)) throw damaged("no sample shape");
  if (!(typeof settings?.alpha === "number" && settings.alpha > 0 && settings.alpha < 1)) throw damaged("α is not in (0, 1)");
  if (settings.method !== "features" && settings.method !== "mmd") throw damaged(`unknown method "${String(settings.method)}"`);
  if (settings.method === "mmd") {
    const mmd = settings.mmd;
    if (!(typeof mmd?.sigma === "number" && mmd.sigma > 0)) throw damaged("no MMD bandwidth");
    if (!Array.isArray(mmd.mean) || !Array.isArray(mmd.scale) || mmd.mean.length !== ref?.values?.shape?.[1] || mmd.scale.length !== mmd.mean.length)
      throw damaged("no feature means and scales for the MMD");
  }
  if (!Number.isInteger(ref?.classes)) throw damaged("no class count");
  const values = decode(ref.values, "float32", "values", damaged);
  const [rows, dim] = ref.values.shape;
  if (settings.method === "features" && (settings.features as FeatureSpec[] | undefined)?.length !== dim)
    throw damaged("one feature spec per column is missing");
  const reference: Observation = {
    values: { rows, dim, data: values },
    predicted: decode(ref.predicted, "int32", "predicted", damaged),
    confidence: Float64Array.from(decode(ref.confidence, "float32", "confidence", damaged)),
    classes: ref.classes,
  };
  if (reference.predicted.length !== reference.confidence.length) throw damaged("predictions and confidences differ in length");
  return { model: { ...model, file: resolve(dirname(path), model.file) }, fitted, detector: { ...settings, reference } };
}

function decode(a: Encoded, dtype: "float32", name: string, damaged: (why: string) => Error): Float32Array;
function decode(a: Encoded, dtype: "int32", name: string, damaged: (why: string) => Error): Int32Array;
function decode(a: Encoded, dtype: "float32" | "int32", name: string, damaged: (why: string) => Error): Float32Array | Int32Array {
  if (a?.dtype !== dtype || typeof a.base64 !== "string" || !Array.isArray(a.shape)) throw damaged(`array "${name}" is missing or not ${dtype}`);
  const bytes = Buffer.from(a.base64, "base64");
  const length = a.shape.reduce((x, y) => x * y, 1);
  if (bytes.byteLength !== length * 4) throw damaged(`array "${name}" has ${bytes.byteLength / 4} values for shape [${a.shape.join(", ")}]`);
  // An aligned copy: a Buffer's offset need not be a multiple of 4.
  const out = dtype === "float32" ? new Float32Array(length) : new Int32Array(length);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
