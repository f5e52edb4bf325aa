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
import { HEURISTIC_FAMILIES, type HeuristicHit, heuristicHits } from "./heuristics.js";

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

// 32-bit FNV-1a over UTF-16 code units, seeded so word and character blocks hash apart. It
// runs left to right, so a gram's hash is built by extending its prefix's, without the string.
const FNV_PRIME = 0x01000193;
const fnvStart = (seed: number): number => (0x811c9dc5 ^ seed) >>> 0;
const fnvStep = (h: number, code: number): number => Math.imul(h ^ code, FNV_PRIME) >>> 0;

function fnvExtend(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = fnvStep(h, text.charCodeAt(i));
  return h;
}

const WORD_SEED = 0x9e3779b9;
const CHAR_SEED = 0x85ebca6b;
const SPACE = 0x20;
// A placeholder (sigil + kind) is one word of its own, apart from the ordinary word "email".
const TOKEN = new RegExp(`${ENTITY_SIGIL}?[\\p{L}\\p{N}]+`, "gu");

/**
 * Signed hashed counts of one block, then 1 + log tf and its L2 norm into `out`. Counting in
 * typed arrays, without a string per gram or a Map, more than halves featurisation's time
 * and its garbage; buckets are finalised in the order first hit, as the Map this replaced
 * iterated them, so the norm sums in the same order and the features stay the same to the bit.
 * One instance per block size, reused: featurisation is synchronous.
 */
class HashedBlock {
  private readonly counts: Int32Array;
  private readonly hit: Uint8Array;
  private readonly order: Int32Array;
  private size = 0;

  constructor(private readonly buckets: number) {
    this.counts = new Int32Array(buckets);
    this.hit = new Uint8Array(buckets);
    // A bucket enters the order once, so the order never outgrows the buckets.
    this.order = new Int32Array(buckets);
  }

  add(h: number): void {
    // The top bit chooses the sign, so collisions cancel on average instead of adding up.
    const bucket = (h & 0x7fffffff) % this.buckets;
    if (!this.hit[bucket]) {
      this.hit[bucket] = 1;
      this.order[this.size++] = bucket;
    }
    this.counts[bucket] += h & 0x80000000 ? -1 : 1;
  }

  /** Writes the block into out[offset, offset + buckets) and clears the counts for the next text. */
  flush(out: Float32Array, offset: number): void {
    let norm = 0;
    for (let k = 0; k < this.size; k++) {
      const c = this.counts[this.order[k]];
      if (c === 0) continue;
      const v = Math.sign(c) * (1 + Math.log(Math.abs(c)));
      out[offset + this.order[k]] = v;
      norm += v * v;
    }
    const scale = 1 / Math.sqrt(norm);
    for (let k = 0; k < this.size; k++) {
      const bucket = this.order[k];
      if (norm !== 0) out[offset + bucket] *= scale;
      this.counts[bucket] = 0;
      this.hit[bucket] = 0;
    }
    this.size = 0;
  }
}

const blocks = new Map<number, HashedBlock>();
function hashedBlock(buckets: number): HashedBlock {
  let block = blocks.get(buckets);
  if (!block) {
    block = new HashedBlock(buckets);
    blocks.set(buckets, block);
  }
  return block;
}

/** Word unigrams and bigrams ("w1 w2"), in text order: w1, w1 w2, w2, w2 w3, … */
function hashWords(text: string, block: HashedBlock): void {
  const words = deLeet(text).match(TOKEN) ?? [];
  const start = fnvStart(WORD_SEED);
  for (let i = 0; i < words.length; i++) {
    const h = fnvExtend(start, words[i]);
    block.add(h);
    if (i + 1 < words.length) block.add(fnvExtend(fnvStep(h, SPACE), words[i + 1]));
  }
}

/** Character n-grams of the text padded by a space each side, all of the first order, then the next. */
function hashChars(text: string, orders: readonly number[], block: HashedBlock): void {
  const padded = ` ${text} `;
  const start = fnvStart(CHAR_SEED);
  for (const n of orders) {
    for (let i = 0; i + n <= padded.length; i++) {
      let h = start;
      for (let k = i; k < i + n; k++) h = fnvStep(h, padded.charCodeAt(k));
      block.add(h);
    }
  }
}

export interface FeaturizeOptions {
  /** The text is already normalised (the scanner has it), so normalisation is skipped. */
  normalized?: boolean;
  /** heuristicHits of the normalised text, when the caller has them (the scanner does). */
  hits?: readonly HeuristicHit[];
  spec?: FeatureSpec;
}

/** Feature vector of one text. */
export function featurize(text: string, options: FeaturizeOptions = {}): Float32Array {
  const spec = options.spec ?? FEATURE_SPEC;
  const normalized = options.normalized ? text : normalizeText(text).text;
  // Masked before lower-casing: some detectors need the case (IBANs, the pii scanner's placeholders).
  const masked = maskEntities(normalized).toLowerCase();
  const out = new Float32Array(featureDimension(spec));
  const words = hashedBlock(spec.wordBuckets);
  hashWords(masked, words);
  words.flush(out, 0);
  const chars = hashedBlock(spec.charBuckets);
  hashChars(masked.replace(/\s+/g, " "), spec.charNgrams, chars);
  chars.flush(out, spec.wordBuckets);
  const matched = new Set((options.hits ?? heuristicHits(normalized)).map((h) => h.kind));
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
