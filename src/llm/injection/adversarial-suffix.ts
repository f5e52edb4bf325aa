/**
 * Adversarial-suffix detector: windowed perplexity, the baseline defence of Jain et al.,
 * "Baseline Defenses for Adversarial Attacks Against Aligned Language Models" (2023), and of
 * Alon & Kamfonas, "Detecting Language Model Attacks with Perplexity" (2023). Optimised
 * suffixes (GCG, Zou et al. 2023; DSN) are token soup — fused camel-case words, misspellings,
 * stray punctuation runs — that no writer produces, so the least natural window of a text is
 * far less likely under a language model of ordinary prompts than any window of a benign one.
 * Deliberate deviation: no neural LM. The language model is a character 5-gram model with
 * interpolated additive smoothing, its counts hashed into a fixed table (quantised log counts,
 * deflated on disk: 0.66 MB), built by scripts/build-suffix-model.ts from the benign "use:
 * train" rows of the development corpus, Aegis's generated benign sets and Aegis's own code
 * (suffix-training.ts), so it runs anywhere without a GPU. Text is read as the classifier
 * reads it (entities masked), case folded but camel-case seams marked, characters outside
 * ASCII folded into one symbol, base64 and hex runs one symbol (encoded-payload's job).
 * Three departures from plain windowed perplexity, each measured on generated suffixes
 * against benign corpus sources held out (README, "LLM scanners"): only the final windows are
 * read (the attack is a suffix; a long prompt's odd line elsewhere then never counts); only
 * letters are scored (the punctuation of code and tables is unpredictable without being
 * unnatural); and the final window must stand MIN_CONTRAST_BITS above the text before it, so
 * a prompt in a language the model does not know, unnatural throughout, is not a suffix.
 * Above SUFFIX_CUTOFF_BITS the final window is a hit of weight SUFFIX_WEIGHT in the noisy-OR
 * of the pattern families (heuristics.ts), not a classifier feature: the feature spec and the
 * shipped classifiers are unchanged.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { deflateSync, inflateSync } from "node:zlib";
import { ENTITY_SIGIL, maskEntities } from "./entities.js";
import type { HeuristicHit } from "./heuristics.js";

export const ADVERSARIAL_SUFFIX_KIND = "adversarial-suffix";

export interface CharNgramModel {
  /** Longest n-gram, the predicted character included. */
  order: number;
  /** Table size, a power of two. */
  buckets: number;
  /** Per bucket, round(QUANT · log2(1 + count)), saturating at 255. */
  table: Uint8Array;
}

export const MODEL_ORDER = 5;
export const MODEL_BUCKETS = 1 << 21;
const QUANT = 8;
/** Pseudo-count given to the shorter context's estimate (interpolated additive smoothing). */
const BACKOFF_MASS = 2;
/** At most this share of a context's estimate comes from its own counts, so an unseen continuation costs a bounded number of bits per order. */
const MAX_CONTEXT_WEIGHT = 0.95;
/** Printable ASCII, the folded non-ASCII letter and symbol and the entity placeholder. */
const ALPHABET = 98;
/** A window is at least this many words and characters long (more words when they are short). */
export const WINDOW_WORDS = 8;
export const WINDOW_CHARS = 40;
/** Only windows ending in the text's last TAIL characters are read: the attack is a suffix, and benign oddities elsewhere in a long prompt then never count. */
const TAIL = 40;
/** Characters read from the end of a text: enough for any window that ends in the last TAIL. */
const READ_CHARS = 600;
/**
 * Bits per letter above which the final window is an adversarial suffix: the score that 0.5%
 * of the benign corpus rows reach when scored by a model built without their source
 * (`scripts/build-suffix-model.ts --evaluate`; README, "LLM scanners").
 */
export const SUFFIX_CUTOFF_BITS = 4.01;
/** Noisy-OR weight of a hit (heuristics.ts): with the classifier at 0.4 or more, a hit alone flags at the shipped threshold. */
export const SUFFIX_WEIGHT = 0.9;

export const DEFAULT_SUFFIX_MODEL_PATH = resolve(import.meta.dirname, "../../../models/adversarial-suffix.ngrams");

const OTHER_SCRIPT = "\u0080";
const OTHER_SYMBOL = "\u0081";
/** A text with at least this share of its letters outside ASCII is not English: the model has nothing to say on it. */
const MAX_FOREIGN_SHARE = 0.01;
/** The suffix must stand this many bits per letter above the text before it, which must hold this many letters. */
const MIN_CONTRAST_BITS = 1.5;
const MIN_HEAD_LETTERS = 20;
// Encoded payloads are read by the encoded-payload scanner; here they are one opaque symbol.
const ENCODED_RUN = /\b(?:[A-Za-z0-9+/]{24,}={0,2}|(?:0x)?[0-9a-fA-F]{16,})(?![\w+/])/g;

/** The text as the model reads it: entities masked, encoded runs and placeholders one symbol, other scripts folded, spaces collapsed. */
export function modelText(text: string): string {
  const masked = maskEntities(text)
    .replace(new RegExp(`${ENTITY_SIGIL}[a-z0-9]*`, "g"), ENTITY_SIGIL)
    .replace(ENCODED_RUN, ENTITY_SIGIL);
  const read = masked
    .replace(/\s+/g, " ")
    .replace(/[^\x20-\x7e\uE000\p{L}]/gu, OTHER_SYMBOL)
    .replace(/[^\x20-\x7e\uE000\u0081]/g, OTHER_SCRIPT);
  // Case folded (capitals and all-caps headings are ordinary), but a capital inside a word,
  // the seam of a fused camel-case token, is kept as a mark the model learns from code.
  return read.replace(/([a-z])(?=[A-Z])/g, "$1^").toLowerCase();
}

// FNV-1a, seeded by the gram's order so grams of different orders hash apart.
const fnvStart = (order: number): number => (0x811c9dc5 ^ Math.imul(order, 0x9e3779b9)) >>> 0;
const fnvStep = (h: number, code: number): number => Math.imul(h ^ code, 0x01000193) >>> 0;

/** Bucket of text[end - n, end). */
function bucketOf(text: string, end: number, n: number, buckets: number): number {
  let h = fnvStart(n);
  for (let k = end - n; k < end; k++) h = fnvStep(h, text.charCodeAt(k));
  return h & (buckets - 1);
}

const padded = (text: string, order: number): string => " ".repeat(order - 1) + text;

/** Counts every n-gram (orders 1..order) of the texts, as read by modelText. */
export function trainCharNgramModel(texts: Iterable<string>, order = MODEL_ORDER, buckets = MODEL_BUCKETS): CharNgramModel {
  const counts = new Uint32Array(buckets);
  for (const text of texts) {
    const t = padded(modelText(text), order);
    for (let end = order; end <= t.length; end++) {
      for (let n = 1; n <= order; n++) counts[bucketOf(t, end, n, buckets)]++;
    }
  }
  const table = Uint8Array.from(counts, (c) => Math.min(255, Math.round(QUANT * Math.log2(1 + c))));
  return { order, buckets, table };
}

const DEQUANTISED = Float64Array.from({ length: 256 }, (_, q) => 2 ** (q / QUANT) - 1);
const countOf = (model: CharNgramModel, bucket: number): number => DEQUANTISED[model.table[bucket]];

/** −log2 P(char) for each character of modelText(text), and that text. */
export function characterSurprisal(text: string, model: CharNgramModel): { read: string; bits: Float32Array } {
  const read = modelText(text);
  const t = padded(read, model.order);
  const bits = new Float32Array(read.length);
  for (let end = model.order; end <= t.length; end++) {
    let p = 1 / ALPHABET;
    for (let n = 1; n <= model.order; n++) {
      const gram = countOf(model, bucketOf(t, end, n, model.buckets));
      const context = n === 1 ? total(model) : countOf(model, bucketOf(t, end - 1, n - 1, model.buckets));
      const weight = Math.min(MAX_CONTEXT_WEIGHT, context / (context + BACKOFF_MASS));
      if (context > 0) p = weight * Math.min(1, gram / context) + (1 - weight) * p;
    }
    bits[end - model.order] = -Math.log2(Math.min(1, p));
  }
  return { read, bits };
}

const totals = new WeakMap<CharNgramModel, number>();
/** Number of characters trained on: the sum of the unigram counts. */
function total(model: CharNgramModel): number {
  let sum = totals.get(model);
  if (sum === undefined) {
    sum = 0;
    for (let c = 0x20; c <= 0x7e; c++) sum += countOf(model, bucketOf(String.fromCharCode(c), 1, 1, model.buckets));
    totals.set(model, sum);
  }
  return sum;
}

export interface SuffixScore {
  /** Mean bits per letter of the least natural final window (0 when the text has none). */
  bits: number;
  /** That window, as the model read it. */
  window: string;
}

/**
 * The highest mean surprisal per letter over the windows (at least `words` consecutive words
 * and WINDOW_CHARS characters) that end in the text's last TAIL characters, among windows at
 * least half ASCII letters and with no other script (a suffix is made of vocabulary tokens;
 * runs of digits, symbols or other scripts are other scanners' business), in a text that is
 * not written in another language (1% of its letters outside ASCII), and standing
 * MIN_CONTRAST_BITS above the text before it (at least MIN_HEAD_LETTERS letters: an optimised
 * suffix follows the request it carries). Letters only: the punctuation of code and tables is
 * unpredictable without being unnatural. Scores 0 when no window qualifies.
 */
export function suffixScore(text: string, model: CharNgramModel, words = WINDOW_WORDS): SuffixScore {
  // Only the end is read (from a word start), so the cost does not grow with the prompt.
  const end = text.length > READ_CHARS ? text.slice(text.length - READ_CHARS).replace(/^\S*\s*/, "") : text;
  const { read, bits } = characterSurprisal(end, model);
  const starts: number[] = [];
  const re = /\S+/g;
  for (let m = re.exec(read); m; m = re.exec(read)) starts.push(m.index);
  const prefix = new Float64Array(bits.length + 1);
  const letters = new Int32Array(bits.length + 1);
  const foreign = new Int32Array(bits.length + 1);
  for (let i = 0; i < bits.length; i++) {
    const c = read.charCodeAt(i) | 0x20;
    const letter = c >= 0x61 && c <= 0x7a ? 1 : 0;
    letters[i + 1] = letters[i] + letter;
    foreign[i + 1] = foreign[i] + (read[i] === OTHER_SCRIPT ? 1 : 0);
    prefix[i + 1] = prefix[i] + letter * bits[i];
  }
  let best: SuffixScore = { bits: 0, window: "" };
  if (foreign[bits.length] > MAX_FOREIGN_SHARE * (letters[bits.length] + foreign[bits.length])) return best;
  let next = 0;
  for (let w = 0; w < starts.length; w++) {
    const from = starts[w];
    next = Math.max(next, w + words);
    while (next < starts.length && starts[next] - from < WINDOW_CHARS) next++;
    const to = next < starts.length ? starts[next] - 1 : read.length;
    if (to - from < WINDOW_CHARS || next - w < words) break;
    if (to < read.length - TAIL) continue;
    const mean = (prefix[to] - prefix[from]) / Math.max(1, letters[to] - letters[from]);
    const spaces = next - w - 1;
    const prose = 2 * (letters[to] - letters[from]) >= to - from - spaces && foreign[to] === foreign[from];
    // A prompt in a language the model does not know is unnatural throughout; a suffix stands out from its request.
    const before = (prefix[from] - prefix[0]) / Math.max(1, letters[from]);
    const stands = letters[from] >= MIN_HEAD_LETTERS && mean - before >= MIN_CONTRAST_BITS;
    if (prose && stands && mean > best.bits) best = { bits: mean, window: read.slice(from, to) };
    if (next >= starts.length) break;
  }
  return best;
}

export function serializeCharNgramModel(model: CharNgramModel): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(model.order, 0);
  header.writeUInt32LE(model.buckets, 4);
  return deflateSync(Buffer.concat([header, model.table]), { level: 9 });
}

export function parseCharNgramModel(bytes: Uint8Array): CharNgramModel {
  const raw = inflateSync(bytes);
  const order = raw.readUInt32LE(0);
  const buckets = raw.readUInt32LE(4);
  if (raw.length !== 8 + buckets || (buckets & (buckets - 1)) !== 0) throw new Error("adversarial-suffix model: bad table size");
  return { order, buckets, table: new Uint8Array(raw.subarray(8)) };
}

let shipped: CharNgramModel | undefined;
/** The shipped model, read once per process. */
export function shippedSuffixModel(): CharNgramModel {
  shipped ??= parseCharNgramModel(readFileSync(DEFAULT_SUFFIX_MODEL_PATH));
  return shipped;
}

/** A heuristic hit when the text's final window reads as an optimised suffix (`text` normalised, as heuristicHits gets it). */
export function adversarialSuffixHit(text: string, model: CharNgramModel = shippedSuffixModel()): HeuristicHit | undefined {
  const { bits, window } = suffixScore(text, model);
  if (bits < SUFFIX_CUTOFF_BITS) return undefined;
  // The window as read (masked, folded); its offsets are the end of the text, where the suffix is.
  return {
    kind: ADVERSARIAL_SUFFIX_KIND,
    weight: SUFFIX_WEIGHT,
    span: [Math.max(0, text.length - window.length), text.length],
    match: `${window} (${bits.toFixed(2)} bits/letter)`,
  };
}
