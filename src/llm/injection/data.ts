/**
 * Reading the labelled prompt corpus (../shared/data/llm/SOURCES.md format: one JSON object
 * per line with text, label, source, kind, license, use) and splitting it into folds by
 * source, so that cross-validation holds out whole origins of data (grouped k-fold, as
 * scikit-learn's GroupKFold) and measures behaviour on phrasing the model has never seen.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRng } from "../../data/random.js";
import { AegisError } from "../../errors.js";
import { checkReadingMode, type ReadingMode } from "../evaluate.js";
import type { LabelledText } from "./labelled-text.js";

export interface CorpusRow extends LabelledText {
  license?: string;
  /** "train" rows may train and tune; "eval-only" rows may only be measured on. */
  use?: string;
  /** How the row is read (evaluate.ts ReadingMode): as a prompt (default), or as retrieved content in context mode. */
  mode?: ReadingMode;
}

export function readJsonl(path: string): CorpusRow[] {
  if (!existsSync(path)) throw new AegisError("FILE_NOT_FOUND", `${path} does not exist; pass the path of a JSONL file with text and label fields`);
  const rows: CorpusRow[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (!line.trim()) return;
      let row: CorpusRow;
      try {
        row = JSON.parse(line) as CorpusRow;
      } catch (e) {
        throw new AegisError("BAD_DATA", `${path}:${i + 1} is not valid JSON; fix or remove that line`, { cause: e });
      }
      if (typeof row.text !== "string" || (row.label !== 0 && row.label !== 1)) {
        throw new AegisError("BAD_DATA", `${path}:${i + 1} needs a string "text" and a "label" of 0 or 1`);
      }
      checkReadingMode(row.mode, `${path}:${i + 1}`);
      rows.push({ ...row, source: row.source ?? "unknown", kind: row.kind ?? (row.label ? "injection" : "benign") });
    });
  return rows;
}

/**
 * Assigns every group to one of `k` folds: groups in a seeded random order, each to the fold
 * with the fewest rows so far (deterministic; folds end up roughly the same size, and which
 * groups share a fold is left to chance rather than to their size).
 */
export function groupFolds<T>(rows: readonly T[], k: number, groupOf: (row: T) => string, seed = 1): number[] {
  const sizes = new Map<string, number>();
  for (const r of rows) sizes.set(groupOf(r), (sizes.get(groupOf(r)) ?? 0) + 1);
  const foldOfGroup = new Map<string, number>();
  const load = new Array<number>(k).fill(0);
  const groups = createRng(seed).shuffle([...sizes.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  for (const [group, size] of groups) {
    const fold = load.indexOf(Math.min(...load));
    foldOfGroup.set(group, fold);
    load[fold] += size;
  }
  return rows.map((r) => foldOfGroup.get(groupOf(r)) ?? 0);
}

/**
 * The unit held out by cross-validation: the row's source, except that a constructed
 * BIPIA row ("<attack file>+<context file>") goes with the clean rows of its context file,
 * so a held-out context type is unseen both with and without an injection in it.
 */
export function sourceGroup(row: Pick<LabelledText, "source">): string {
  const plus = row.source.lastIndexOf("+");
  return plus >= 0 ? `${row.source.split(":")[0]}:${row.source.slice(plus + 1)}` : row.source;
}

/**
 * Like sourceGroup, but sources of more than `shardAbove` rows (aggregates such as
 * WildGuardTest or the in-the-wild jailbreak collection) are cut into `shards` parts by row
 * position, so a fold holds out part of an aggregate rather than all of it.
 */
export function shardedSourceGroups(rows: readonly Pick<LabelledText, "source">[], shardAbove = 400, shards = 3): string[] {
  const sizes = new Map<string, number>();
  for (const r of rows) sizes.set(sourceGroup(r), (sizes.get(sourceGroup(r)) ?? 0) + 1);
  const seen = new Map<string, number>();
  return rows.map((r) => {
    const group = sourceGroup(r);
    const index = seen.get(group) ?? 0;
    seen.set(group, index + 1);
    return (sizes.get(group) ?? 0) > shardAbove ? `${group}#${index % shards}` : group;
  });
}

/** Sources whose rows are documents and tool outputs (retrieved content), not prompts. */
const DOCUMENT_SOURCES = /BIPIA|agentdojo/i;

export function isDocumentSource(row: Pick<LabelledText, "source">): boolean {
  return DOCUMENT_SOURCES.test(row.source);
}

/** The feature rows `rows` of x ([n, dim]), in that order. */
export function gatherFeatures(x: Float32Array, rows: readonly number[], dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => {
    out.set(x.subarray(r * dim, (r + 1) * dim), i * dim);
  });
  return out;
}
