/**
 * The watermark key on disk: one JSON file holding the trigger images (their 8-bit levels in
 * base64, so the key verifies the same way whatever version of Aegis made it; the seed that
 * generated them is kept for the record), their labels, the SHA-256 of the marked model and of
 * the model it came from, and how it was embedded. The triggers are the secret: whoever has
 * the key can fine-tune them away, so it is written readable by its owner only.
 */
import { basename } from "node:path";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { sizeOf } from "../../tensor.js";
import { sha256Of } from "../detectors/persistence.js";
import { levelsOfTriggers, type TriggerSet, triggersFromLevels } from "./watermark.js";

export const WATERMARK_KEY_FORMAT = "aegis-watermark-key";

export interface WatermarkKey {
  format: typeof WATERMARK_KEY_FORMAT;
  version: 1;
  method: "trigger-set";
  paper: string;
  /** The seed the triggers and labels were drawn from. */
  seed: number;
  numClasses: number;
  inputShape: number[];
  /** The input range the 8-bit levels map onto. */
  clipRange: [number, number];
  triggers: { count: number; sha256: string; levels: string };
  labels: number[];
  /** p-value below which verify says the watermark is present. */
  threshold: number;
  /** The marked model as written, and the model it was made from. */
  model: { file: string; sha256: string };
  source: { file: string; sha256: string; fromScratch: boolean };
  embedding: { data: string; samples: number; epochs: number; batchSize: number; triggersPerBatch: number; learningRate: number };
  /** Measured when the key was made, on the test data named. */
  measured: { testData?: string; sourceAccuracy?: number; markedAccuracy?: number; sourceTriggerAccuracy: number; markedTriggerAccuracy: number };
}

export type WatermarkKeyFields = Omit<WatermarkKey, "format" | "version" | "method" | "paper" | "triggers" | "labels" | "clipRange" | "model"> & {
  clipRange: readonly [number, number];
  model: { file: string; bytes: Uint8Array };
};

export const ADI_2018 = "Adi, Baum, Cisse, Pinkas & Keshet 2018, Turning Your Weakness Into a Strength: Watermarking Deep Neural Networks by Backdooring";

export function encodeWatermarkKey(triggers: TriggerSet, fields: WatermarkKeyFields): WatermarkKey {
  const levels = levelsOfTriggers(triggers.x, fields.clipRange);
  return {
    format: WATERMARK_KEY_FORMAT,
    version: 1,
    method: "trigger-set",
    paper: ADI_2018,
    ...fields,
    clipRange: [fields.clipRange[0], fields.clipRange[1]],
    triggers: { count: triggers.labels.length, sha256: sha256Of(levels), levels: Buffer.from(levels).toString("base64") },
    labels: [...triggers.labels],
    model: { file: basename(fields.model.file), sha256: sha256Of(fields.model.bytes) },
  };
}

/** Written with mode 0600: the key is the secret that proves ownership. */
export function saveWatermarkKey(path: string, key: WatermarkKey): void {
  writeFileAtomic(path, `${JSON.stringify(key, null, 2)}\n`, 0o600);
}

export function readWatermarkKey(path: string, text: string): WatermarkKey {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw damaged(path, `not JSON: ${(e as Error).message}`);
  }
  const key = raw as WatermarkKey;
  if (key?.format !== WATERMARK_KEY_FORMAT || key.version !== 1) throw damaged(path, `format is not ${WATERMARK_KEY_FORMAT} version 1`);
  if (!Number.isInteger(key.numClasses) || key.numClasses < 2) throw damaged(path, "numClasses must be an integer ≥ 2");
  if (!Array.isArray(key.inputShape) || !key.inputShape.every((d) => Number.isInteger(d) && d > 0))
    throw damaged(path, "inputShape must list positive integers");
  if (!Array.isArray(key.clipRange) || key.clipRange.length !== 2 || !(key.clipRange[0] < key.clipRange[1]))
    throw damaged(path, "clipRange must be [lo, hi] with lo < hi");
  if (!Array.isArray(key.labels) || !key.labels.every((l) => Number.isInteger(l) && l >= 0 && l < key.numClasses))
    throw damaged(path, `labels must be integers in 0..${key.numClasses - 1}`);
  if (!(key.threshold > 0 && key.threshold < 1)) throw damaged(path, "threshold must be in (0, 1)");
  if (typeof key.triggers?.levels !== "string") throw damaged(path, "the trigger images are missing");
  return key;
}

/** The key's trigger set, checked against its digest and shape. */
export function keyTriggers(key: WatermarkKey, path = "the key"): TriggerSet {
  const levels = new Uint8Array(Buffer.from(key.triggers.levels, "base64"));
  if (sha256Of(levels) !== key.triggers.sha256) throw damaged(path, "the trigger images do not match their SHA-256: the key was altered");
  if (levels.length !== key.labels.length * sizeOf(key.inputShape))
    throw damaged(path, `${levels.length} trigger values for ${key.labels.length} triggers of shape [${key.inputShape}]`);
  return { x: triggersFromLevels(levels, key.inputShape, key.clipRange), labels: key.labels };
}

function damaged(path: string, why: string): AegisError {
  return new AegisError("BAD_DATA", `${path} is not a valid Aegis watermark key (${why}); use the key aegis watermark embed wrote.`);
}
