/**
 * A fingerprint on disk: JSON with the points as base64 little-endian float32 (a hundred
 * MNIST points are 420 kB rather than 1.5 MB of decimal numbers), checked field by field
 * on reading so that a hand-edited or truncated file is named as such, never half-used.
 */
import { readFileSync } from "node:fs";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { float32, sizeOf } from "../../tensor.js";
import type { Fingerprint, IndependentNull, MistakeSample } from "./fingerprint.js";

export function saveFingerprint(file: string, fingerprint: Fingerprint): void {
  const { x, ...rest } = fingerprint;
  const bytes = Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength);
  writeFileAtomic(file, `${JSON.stringify({ ...rest, x: bytes.toString("base64") })}\n`);
}

export function loadFingerprint(file: string): Fingerprint {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new AegisError("FILE_NOT_FOUND", `cannot read the fingerprint ${file}; make one with \`aegis fingerprint make\``);
  }
  return parseFingerprint(text, file);
}

export function parseFingerprint(text: string, file: string): Fingerprint {
  const bad = (why: string) => new AegisError("BAD_DATA", `${file} is not an Aegis fingerprint: ${why}; make one with \`aegis fingerprint make\``);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad("it is not JSON");
  }
  if (raw?.format !== "aegis-fingerprint") throw bad('its "format" is not "aegis-fingerprint"');
  if (![1, 2, 3, 4].includes(raw.version as number)) throw bad(`version ${String(raw.version)} is not one this Aegis reads (1 to 4)`);
  const numbers = (key: string, check: (v: number) => boolean): number[] => {
    const v = raw[key];
    if (!Array.isArray(v) || !v.every((e) => typeof e === "number" && check(e))) throw bad(`"${key}" is not a list of valid numbers`);
    return v;
  };
  const inputShape = numbers("inputShape", (v) => Number.isInteger(v) && v > 0);
  const numClasses = raw.numClasses;
  if (typeof numClasses !== "number" || !Number.isInteger(numClasses) || numClasses < 2) throw bad('"numClasses" is not a whole number ≥ 2');
  const labels = numbers("labels", (v) => Number.isInteger(v) && v >= 0 && v < numClasses);
  const nullMatch = numbers("nullMatch", (v) => v > 0 && v < 1);
  if (nullMatch.length !== labels.length) throw bad(`it has ${labels.length} labels but ${nullMatch.length} null matching chances`);
  const clipRange = numbers("clipRange", Number.isFinite);
  if (clipRange.length !== 2) throw bad('"clipRange" is not [lo, hi]');
  const { threshold, alpha } = raw;
  if (typeof threshold !== "number" || !Number.isInteger(threshold) || threshold < 0) throw bad('"threshold" is not a whole number of matches');
  if (typeof alpha !== "number" || !(alpha > 0 && alpha < 1)) throw bad('"alpha" is not in (0, 1)');
  if (typeof raw.x !== "string") throw bad('"x" (the points) is missing');
  const bytes = Buffer.from(raw.x, "base64");
  const expected = labels.length * sizeOf(inputShape) * 4;
  if (bytes.length !== expected)
    throw bad(`its points hold ${bytes.length} bytes, not the ${expected} of ${labels.length} inputs of shape [${inputShape.join(", ")}]`);
  const independent = raw.version === 3 ? independentOf(raw.independent, bad) : undefined;
  const mistakes = raw.version === 4 ? mistakesOf(raw.mistakes, labels.length, numClasses, bad) : undefined;
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  if (!data.every(Number.isFinite)) throw bad("its points hold NaN or Inf");
  return {
    ...(raw as unknown as Fingerprint),
    inputShape,
    labels,
    nullMatch,
    independent,
    mistakes,
    clipRange: [clipRange[0], clipRange[1]],
    x: float32([labels.length, ...inputShape], data),
  };
}

/** Version 3's null model of independent suspects: a mean rate in [0, 1], a positive spread, at least 2 references. */
function independentOf(value: unknown, bad: (why: string) => AegisError): IndependentNull {
  const v = value as Partial<IndependentNull> | undefined;
  const valid =
    typeof v?.mean === "number" &&
    v.mean >= 0 &&
    v.mean <= 1 &&
    typeof v.sd === "number" &&
    v.sd > 0 &&
    Number.isFinite(v.sd) &&
    typeof v.references === "number" &&
    Number.isInteger(v.references) &&
    v.references >= 2;
  if (!valid) throw bad('"independent" is not {mean, sd, references} of the calibration references\' matching rates');
  return { mean: v.mean as number, sd: v.sd as number, references: v.references as number };
}

/** Version 4's mistakes: a count within the points, a true label per point, and a line fitted on at least 3 references. */
function mistakesOf(value: unknown, points: number, numClasses: number, bad: (why: string) => AegisError): MistakeSample {
  const v = value as Partial<MistakeSample> | undefined;
  const line = v?.line;
  const finite = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n);
  const valid =
    typeof v?.mistakes === "number" &&
    Number.isInteger(v.mistakes) &&
    v.mistakes > 0 &&
    v.mistakes < points &&
    Array.isArray(v.truth) &&
    v.truth.length === points &&
    v.truth.every((t) => Number.isInteger(t) && t >= 0 && t < numClasses) &&
    finite(line?.intercept) &&
    finite(line.slope) &&
    finite(line.sd) &&
    line.sd > 0 &&
    finite(line.meanErrorRate) &&
    finite(line.errorRateSpread) &&
    line.errorRateSpread >= 0 &&
    Number.isInteger(line.references) &&
    line.references >= 3 &&
    Array.isArray(line.fitted);
  if (!valid) throw bad("\"mistakes\" is not {mistakes, truth, line} of the victim's mistakes and the references' line");
  return v as MistakeSample;
}
