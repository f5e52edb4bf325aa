/**
 * Scoring retrieved content for instructions addressed to the assistant (indirect prompt
 * injection, Greshake et al. 2023): a document or tool output is cut into windows of two
 * consecutive sentences or lines of prose and into single ones, each window is scored
 * (classifier and pattern families), and the content's score is how far its highest window
 * stands above its typical one (contentScore), the higher of the two window sizes' (the whole
 * text is scored when it is too short to have windows).
 * A bag of n-grams over a whole document dilutes one injected sentence among many harmless
 * ones; a window holds little else (the same reason BIPIA's detectors read documents in
 * chunks). All windows of a text go to the classifier in one batch.
 */
import { featurize } from "./features.js";
import { heuristicHits, heuristicScore } from "./heuristics.js";
import { combinedScore } from "./model.js";

/** Windows are made of this many sentences or lines; single ones are read too (scoreWindows). */
const WINDOW_UNITS = 2;
/** Longer texts are read in their first windows only, so the cost per character stays bounded. */
const MAX_WINDOWS = 96;
const UNIT = /(?<=[.!?])\s+(?=\S)|\n+/;

/** A line of code: four-space or tab indentation, or an interactive interpreter's prompt. */
const CODE_LINE = /^(?: {4}|\t|>>> |\.\.\. |In \[\d+\]:|Out\[\d+\]:)/;

/**
 * A field or list item of indented JSON or YAML, which is data to read, not code: a tool
 * output printed with two-space indentation puts every field of a record in a list four or
 * six spaces in, and an instruction planted in a field's value was skipped as code.
 */
const DATA_LINE = /^\s*(?:-\s|"[^"]*"\s*:(?:\s|$)|[A-Za-z_][\w-]*(?: [\w-]+){0,2}: |[A-Za-z_][\w-]*:$)/;

/**
 * The lines of a text outside fenced code blocks and code lines. Code reads like nothing a
 * person writes to the assistant, yet the prompts that teach the context classifier what an
 * instruction looks like often quote code, so code windows scored as instructions; a code
 * block planted in a document comes with a sentence that tells the assistant what to do with
 * it, and that sentence is read.
 */
export function proseLines(text: string): string[] {
  let fenced = false;
  return text.split("\n").filter((line) => {
    if (line.trimStart().startsWith("```")) {
      fenced = !fenced;
      return false;
    }
    return !fenced && (!CODE_LINE.test(line) || DATA_LINE.test(line));
  });
}

/**
 * The windows of a (normalised) text: every run of `size` consecutive sentences or lines of
 * prose (lines of brackets and punctuation alone, as in JSON, are not units); none when the
 * text has at most `size`.
 */
export function contextWindows(text: string, size = WINDOW_UNITS): string[] {
  const units = proseLines(text)
    .join("\n")
    .split(UNIT)
    .map((u) => u.trim())
    .filter((u) => /[\p{L}\p{N}]/u.test(u));
  if (units.length <= size) return [];
  const windows: string[] = [];
  for (let i = 0; i + size <= units.length && windows.length < MAX_WINDOWS; i++) windows.push(units.slice(i, i + size).join("\n"));
  return windows;
}

/**
 * A document's typical window is its upper quartile, not its median: a code answer or an
 * e-mail has a few sentences of advice that read like requests among plainer ones, and the
 * bar a planted line must clear is set by those, not by the plain ones (chosen by
 * leave-one-source-out on two seeds and three training sets; README).
 */
const TYPICAL_QUANTILE = 0.75;

const logit = (p: number) => {
  const q = Math.min(Math.max(p, 1e-6), 1 - 1e-6);
  return Math.log(q / (1 - q));
};

/**
 * Below this many windows a text has no typical window to compare with. In a short record
 * (a chat message with its sender and channel, an event with its time and place) the upper
 * quartile is a field like "sender: Ana", so any sentence stood out as a planted line; 6 in
 * place of 3 raised leave-one-source-out recall by 4–9 points on six runs (two seeds, three
 * training sets) at the same false positives, and 8 less (README).
 */
export const MIN_TYPICAL_WINDOWS = 6;

/**
 * The content's score from its window scores: how far its highest window stands above its
 * typical one, σ(logit max − logit upper quartile); the highest window alone when the text
 * has fewer than six. Code answers and e-mails have many windows that read like requests,
 * tables almost none; an instruction planted in either stands out from the rest of its own
 * document, which holds across kinds of document where no single threshold on the highest
 * window does.
 */
export function contentScore(scores: ArrayLike<number>): number {
  const logits = Array.from(scores, logit).sort((a, b) => a - b);
  const typical = logits.length >= MIN_TYPICAL_WINDOWS ? logits[Math.floor((logits.length - 1) * TYPICAL_QUANTILE)] : 0;
  const z = logits[logits.length - 1] - typical;
  return 1 / (1 + Math.exp(-z));
}

export interface WindowScores {
  /** The content's score (contentScore of the window scores). */
  score: number;
  /** One score per window (the pairs, then the single sentences or lines), or the whole text's when it has no windows. */
  scores: Float32Array;
  /** The texts scored, in the same order. */
  texts: string[];
  /** Whether the one text scored is the whole text. */
  whole: boolean;
}

/**
 * Classifier-and-pattern scores of a normalised text's windows (of the whole text when it is
 * too short to have any), with one classifier call. The whole of a longer text is not scored:
 * a document's bulk says what kind of document it is, not whether one line in it addresses
 * the assistant, and whole code answers and e-mails read like prompts to the classifier.
 * Pairs keep an instruction that spans two sentences together; single lines keep a planted
 * line from sharing its window with a table row (the two together, chosen by
 * leave-one-source-out on both seeds tried: 34.4% and 37.2% of indirect injections with pairs
 * alone, 38.6% and 38.6% with both).
 */
export async function scoreWindows(normalized: string, probabilities: (features: Float32Array, n: number) => Promise<Float32Array>): Promise<WindowScores> {
  const windows = contextWindows(normalized);
  const singles = windows.length ? contextWindows(normalized, 1) : [];
  const texts = windows.length ? [...windows, ...singles] : [normalized];
  const first = featurize(texts[0], { normalized: true });
  const features = new Float32Array(texts.length * first.length);
  features.set(first);
  for (let i = 1; i < texts.length; i++) features.set(featurize(texts[i], { normalized: true }), i * first.length);
  const p = await probabilities(features, texts.length);
  const scores = Float32Array.from(texts, (t, i) => combinedScore(p[i], heuristicScore(heuristicHits(t))));
  const score = singles.length
    ? Math.max(contentScore(scores.subarray(0, windows.length)), contentScore(scores.subarray(windows.length)))
    : contentScore(scores);
  return { score, scores, texts, whole: windows.length === 0 };
}
