/**
 * Scoring retrieved content for instructions addressed to the assistant (indirect prompt
 * injection, Greshake et al. 2023): a document or tool output is cut into windows of two
 * consecutive sentences or lines, each window is scored like a prompt (classifier and pattern
 * families), and the content's score is the highest window's, or the whole text's if higher.
 * A bag of n-grams over a whole document dilutes one injected sentence among many harmless
 * ones; a window holds little else (the same reason BIPIA's detectors read documents in
 * chunks). All windows of a text go to the classifier in one batch.
 */
import { featurize } from "./features.js";
import { heuristicHits, heuristicScore } from "./heuristics.js";
import { combinedScore } from "./model.js";

/** Windows are made of at most this many sentences or lines. */
const WINDOW_UNITS = 2;
/** Longer texts are read in their first windows only, so the cost per character stays bounded. */
const MAX_WINDOWS = 96;
const UNIT = /(?<=[.!?])\s+(?=\S)|\n+/;

/** The windows of a (normalised) text: every run of two consecutive sentences or lines; none when the text has at most two. */
export function contextWindows(text: string): string[] {
  const units = text
    .split(UNIT)
    .map((u) => u.trim())
    .filter(Boolean);
  if (units.length <= WINDOW_UNITS) return [];
  const windows: string[] = [];
  for (let i = 0; i + WINDOW_UNITS <= units.length && windows.length < MAX_WINDOWS; i++) windows.push(units.slice(i, i + WINDOW_UNITS).join("\n"));
  return windows;
}

export interface WindowScores {
  /** Score of the whole text followed by one per window. */
  scores: Float32Array;
  /** The texts scored, in the same order (the whole text first). */
  texts: string[];
}

/** Classifier-and-pattern scores of a normalised text and of its windows, with one classifier call. */
export async function scoreWindows(normalized: string, probabilities: (features: Float32Array, n: number) => Promise<Float32Array>): Promise<WindowScores> {
  const texts = [normalized, ...contextWindows(normalized)];
  const first = featurize(texts[0], { normalized: true });
  const features = new Float32Array(texts.length * first.length);
  features.set(first);
  for (let i = 1; i < texts.length; i++) features.set(featurize(texts[i], { normalized: true }), i * first.length);
  const p = await probabilities(features, texts.length);
  return { texts, scores: Float32Array.from(texts, (t, i) => combinedScore(p[i], heuristicScore(heuristicHits(t)))) };
}
