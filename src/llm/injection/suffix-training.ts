/**
 * What the adversarial-suffix language model (adversarial-suffix.ts) is built from, shared by
 * scripts/build-suffix-model.ts and the leave-one-source-out protocol (which builds one model
 * per fold without the held-out source): the benign ("label": 0) "use: train" rows given, the
 * benign rows of Aegis's generated sets, and Aegis's own TypeScript under src/ outside
 * src/llm (which holds attack templates; scripts/ holds corpus builders), so that code reads
 * as ordinary text.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CorpusRow } from "./data.js";
import { sourceGroup } from "./data.js";
import { structuredDocumentTexts } from "./structured-documents.js";
import { syntheticRows } from "./synthetic.js";
import { technicalDocumentTexts } from "./technical-documents.js";

export interface SuffixTrainingText {
  text: string;
  /** The unit cross-validation holds out (sourceGroup); generated text and Aegis's code are always trained on. */
  group: string;
}

export const OWN_CODE_GROUP = "aegis:source-code";

function ownCode(root: string): SuffixTrainingText[] {
  return readdirSync(join(root, "src"), { recursive: true, encoding: "utf8" })
    .map((f) => join("src", f))
    .filter((f) => f.endsWith(".ts") && !f.startsWith(join("src", "llm")))
    .sort()
    .map((f) => ({ text: readFileSync(join(root, f), "utf8"), group: OWN_CODE_GROUP }));
}

/** Benign texts of `rows` (only "use": "train" ones are kept), generated benign texts (seed 7) and the code under `root`. */
export function suffixTrainingTexts(rows: readonly CorpusRow[], root: string): SuffixTrainingText[] {
  const generated = [...syntheticRows(1, 7), ...structuredDocumentTexts(400, 7), ...technicalDocumentTexts(200, 7)];
  const benign = [...rows.filter((r) => r.use === "train"), ...generated].filter((r) => r.label === 0);
  return [...benign.map((r) => ({ text: r.text, group: sourceGroup(r) })), ...ownCode(root)];
}

/** Whether cross-validation may hold the group out: corpus sources only. */
export function isHeldOutGroup(group: string): boolean {
  return !group.startsWith("generated:") && group !== OWN_CODE_GROUP;
}
