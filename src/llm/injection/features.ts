/**
 * Deterministic featuriser of the prompt-injection classifier: the feature-hashing trick
 * (Weinberger et al., "Feature Hashing for Large Scale Multitask Learning", 2009) over word
 * unigrams and bigrams of the normalised, de-leeted text and over its character 3- to
 * 5-grams, with sublinear term frequency (1 + log tf) and an L2 norm per block, as in
 * scikit-learn's HashingVectorizer/TfidfTransformer(sublinear_tf); plus one indicator per
 * heuristic family (heuristics.ts). Personal values, URLs and numbers are masked to
 * placeholder words first (entities.ts), so they are never evidence. Training and inference
 * call this same function; the spec hash stored in the ONNX model's metadata proves the two agree.
 */
import { createHash } from "node:crypto";
import { deLeet, normalizeText } from "../normalize.js";
import { ENTITY_SIGIL, maskEntities } from "./entities.js";
import { HEURISTIC_FAMILIES, heuristicHits } from "./heuristics.js";

export interface FeatureSpec {
  version: number;
  /** Bumped whenever normalize.ts or entities.ts changes what it outputs. */
  normalization: number;
  wordBuckets: number;
  charBuckets: number;
  charNgrams: readonly number[];
  /** Names of the heuristic families, one indicator each, in this order. */
  families: readonly string[];
}

export const FEATURE_SPEC: FeatureSpec = {
  version: 1,
  normalization: 2,
  wordBuckets: 4096,
  charBuckets: 4096,
  charNgrams: [3, 4, 5],
  families: HEURISTIC_FAMILIES.map((f) => f.kind),
};

export function featureDimension(spec: FeatureSpec = FEATURE_SPEC): number {
  return spec.wordBuckets + spec.charBuckets + spec.families.length;
}

/** Changes whenever the spec or the heuristic patterns change, so a stale model is refused. */
export function featureSpecHash(spec: FeatureSpec = FEATURE_SPEC): string {
  const patterns = HEURISTIC_FAMILIES.map((f) => `${f.kind}:${f.patterns.map((p) => p.source).join("|")}`);
  return createHash("sha256").update(JSON.stringify({ spec, patterns })).digest("hex").slice(0, 16);
}

/** 32-bit FNV-1a over UTF-16 code units, seeded so word and character blocks hash apart. */
function fnv1a(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const WORD_SEED = 0x9e3779b9;
const CHAR_SEED = 0x85ebca6b;
// A placeholder (sigil + kind) is one word of its own, apart from the ordinary word "email".
const TOKEN = new RegExp(`${ENTITY_SIGIL}?[\\p{L}\\p{N}]+`, "gu");

/** Signed hashed counts of `grams` into out[offset, offset + buckets), then 1 + log tf and L2 norm. */
function hashBlock(grams: Iterable<string>, seed: number, out: Float32Array, offset: number, buckets: number): void {
  const counts = new Map<number, number>();
  for (const gram of grams) {
    const h = fnv1a(gram, seed);
    // The top bit chooses the sign, so collisions cancel on average instead of adding up.
    const bucket = (h & 0x7fffffff) % buckets;
    const sign = h & 0x80000000 ? -1 : 1;
    counts.set(bucket, (counts.get(bucket) ?? 0) + sign);
  }
  let norm = 0;
  for (const [bucket, c] of counts) {
    if (c === 0) continue;
    const v = Math.sign(c) * (1 + Math.log(Math.abs(c)));
    out[offset + bucket] = v;
    norm += v * v;
  }
  if (norm === 0) return;
  const scale = 1 / Math.sqrt(norm);
  for (const bucket of counts.keys()) out[offset + bucket] *= scale;
}

function* wordGrams(text: string): Generator<string> {
  const words = deLeet(text).match(TOKEN) ?? [];
  for (let i = 0; i < words.length; i++) {
    yield words[i];
    if (i + 1 < words.length) yield `${words[i]} ${words[i + 1]}`;
  }
}

function* charGrams(text: string, orders: readonly number[]): Generator<string> {
  const padded = ` ${text} `;
  for (const n of orders) {
    for (let i = 0; i + n <= padded.length; i++) yield padded.slice(i, i + n);
  }
}

/**
 * Feature vector of one text. `normalized` skips normalisation when the caller already
 * has the normalised text (the scanner does).
 */
export function featurize(text: string, options: { normalized?: boolean; spec?: FeatureSpec } = {}): Float32Array {
  const spec = options.spec ?? FEATURE_SPEC;
  const normalized = options.normalized ? text : normalizeText(text).text;
  // Masked before lower-casing: some detectors need the case (IBANs, the pii scanner's placeholders).
  const masked = maskEntities(normalized).toLowerCase();
  const out = new Float32Array(featureDimension(spec));
  hashBlock(wordGrams(masked), WORD_SEED, out, 0, spec.wordBuckets);
  hashBlock(charGrams(masked.replace(/\s+/g, " "), spec.charNgrams), CHAR_SEED, out, spec.wordBuckets, spec.charBuckets);
  const matched = new Set(heuristicHits(normalized).map((h) => h.kind));
  const base = spec.wordBuckets + spec.charBuckets;
  spec.families.forEach((kind, i) => {
    if (matched.has(kind)) out[base + i] = 1;
  });
  return out;
}

/** Features of many texts as one row-major [n, dim] buffer. */
export function featurizeAll(texts: readonly string[], spec: FeatureSpec = FEATURE_SPEC): Float32Array {
  const dim = featureDimension(spec);
  const out = new Float32Array(texts.length * dim);
  texts.forEach((text, i) => {
    out.set(featurize(text, { spec }), i * dim);
  });
  return out;
}
