/**
 * Training rows of context mode's own classifier. In retrieved content the question is not
 * "is this an attack?" but "is this addressed to the assistant?": a harmless task ("Explain
 * photosynthesis") planted in a table is an injection there, though the same words as a
 * user's prompt are benign. So the context classifier learns prompts against documents:
 *
 * - every prompt row (any label: attacks, benign tasks, harmful requests; rows not from
 *   document sources) is label 1, read as its first window of prose (context.ts) — what an
 *   instruction planted in a document looks like;
 * - benign documents and tool outputs are label 0, whole and window by window, with the
 *   generated documents whose instructions are addressed to people (documents.ts,
 *   structured-documents.ts, technical-documents.ts: e-mails, tables, step lists, tool
 *   results, documentation, READMEs, forum threads, code answers) as hard negatives;
 * - an injected document is label 1 whole, and its windows that no benign document has
 *   (the planted instruction) are label 1 too when there are few of them.
 *
 * `origin` ties every row to the corpus row it came from (−1 for generated rows), so that
 * cross-validation can drop the held-out source's rows.
 */

import type { OnnxClassifier } from "../../engine/classifier.js";
import { contextWindows, proseLines } from "./context.js";
import { gatherFeatures, isDocumentSource } from "./data.js";
import { documentTexts } from "./documents.js";
import type { LabelledText } from "./labelled-text.js";
import { type InjectionTrainOptions, trainInjectionClassifier } from "./model.js";
import { structuredDocumentTexts } from "./structured-documents.js";
import { technicalDocumentTexts } from "./technical-documents.js";

export const CONTEXT_PROMPT_SOURCE = "context:prompt-as-instruction";

/** Windows per benign document, so that long documents do not outweigh many short ones. */
const MAX_WINDOWS_PER_DOCUMENT = 24;
/** Prompts whose first window is longer read like documents, not like an instruction planted in one. */
const MAX_INSTRUCTION_CHARS = 300;
/** An injected document whose unshared windows are more than this is labelled whole only. */
const MAX_PLANTED_WINDOWS = 4;

export interface ContextTrainingSet {
  rows: LabelledText[];
  /** Index of the corpus row each row comes from; −1 for generated documents. */
  origin: number[];
}

function evenly<T>(list: readonly T[], max: number): T[] {
  if (list.length <= max) return [...list];
  return Array.from({ length: max }, (_, i) => list[Math.floor((i * list.length) / max)]);
}

/** The context classifier's training rows made from `corpus` and `generated` documents (see above). */
export function contextTrainingSet(
  corpus: readonly LabelledText[],
  options: {
    /** Generated e-mails and structured documents, half each (with their injected twins). */
    generated?: number;
    /** Generated technical documents (with their injected twins); default `generated`. */
    technical?: number;
    seed?: number;
    /** Which corpus rows (by index) are documents and tool outputs; default: rows of the document sources (isDocumentSource). */
    isDocument?: (index: number) => boolean;
  } = {},
): ContextTrainingSet {
  const isDocument = options.isDocument ?? ((i: number) => isDocumentSource(corpus[i]));
  const generated = options.generated ?? 800;
  const technical = options.technical ?? generated;
  const seed = options.seed ?? 7;
  const documents = [
    ...corpus.map((row, i) => ({ row, origin: i })).filter(({ origin }) => isDocument(origin)),
    ...[...documentTexts(generated / 2, seed), ...structuredDocumentTexts(generated / 2, seed), ...technicalDocumentTexts(technical, seed)].map((row) => ({
      row,
      origin: -1,
    })),
  ];
  const benignWindows = new Set(documents.filter(({ row }) => row.label === 0).flatMap(({ row }) => contextWindows(row.text)));
  const rows: LabelledText[] = [];
  const origin: number[] = [];
  const add = (row: LabelledText, from: number) => {
    rows.push(row);
    origin.push(from);
  };
  corpus.forEach((row, i) => {
    if (isDocument(i)) return;
    const instruction = contextWindows(row.text)[0] ?? (proseLines(row.text).join("\n").trim() || row.text);
    if (instruction.length > MAX_INSTRUCTION_CHARS) return;
    add(
      {
        text: instruction,
        label: 1,
        source: `${CONTEXT_PROMPT_SOURCE}:${row.source}`,
        kind: row.kind,
      },
      i,
    );
  });
  for (const { row, origin: from } of documents) {
    add(row, from);
    const windows = contextWindows(row.text);
    if (row.label === 0) {
      for (const text of evenly(windows, MAX_WINDOWS_PER_DOCUMENT)) add({ ...row, text }, from);
      continue;
    }
    const planted = windows.filter((w) => !benignWindows.has(w));
    if (planted.length <= MAX_PLANTED_WINDOWS) for (const text of planted) add({ ...row, text }, from);
  }
  return { rows, origin };
}

/**
 * Weight decay of context mode's classifier, ten times the prompt classifier's: a smoother
 * model ranks the windows of unseen kinds of document better (leave-one-source-out indirect
 * recall 53.5% → 54.9% and 55.8% → 60.9% on seeds 7 and 8 at the same 2.9% false positives).
 */
export const CONTEXT_WEIGHT_DECAY = 1e-3;

/**
 * Context mode's classifier trained on the rows of `set` (features [n, dim] from featurizeAll,
 * in the same order) whose corpus row is not in `heldOut`: a cross-validation fold's, or the
 * shipped one with nothing held out. No generated prompt sets or augmentation: `set` has its own;
 * its own weight decay, whatever `options` says (the prompt classifier's).
 */
export function trainContextClassifier(
  set: ContextTrainingSet,
  features: Float32Array,
  heldOut: Iterable<number>,
  options: InjectionTrainOptions = {},
  weightDecay = CONTEXT_WEIGHT_DECAY,
): Promise<OnnxClassifier> {
  const held = new Set(heldOut);
  const keep = set.origin.flatMap((o, i) => (held.has(o) ? [] : [i]));
  return trainInjectionClassifier(
    gatherFeatures(features, keep, features.length / set.rows.length),
    keep.map((i) => set.rows[i]),
    { ...options, weightDecay, augment: 0, synthetic: 0 },
  );
}
