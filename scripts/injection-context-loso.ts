/**
 * The fast loop of context mode (issue 22): leave-one-source-out over the document sources
 * only. For each document source (BIPIA's code, e-mail and table files, AgentDojo's suites)
 * context mode's classifier (src/llm/injection/context-model.ts) is trained without that
 * source's rows and scores them as the indirect-injection scanner does (whole text and
 * windows, context.ts). With --prompt-scores (the --dump of scripts/injection-loso.ts, whose
 * prompt mode this leaves unchanged) it also reports the whole corpus as an application
 * scans it: documents in context mode, everything else in prompt mode (protocol.ts
 * modeReports). Only "use": "train" rows are read; nine folds, a few CPU-minutes.
 *
 *   node --import tsx scripts/injection-context-loso.ts [--prompt-scores scores.jsonl] [--sources] [--generated 800] [--technical 800]
 *        [--epochs 4] [--hidden 0] [--weight-decay 1e-3 (the context classifier's)]
 *        [--max-fpr 0.03] [--seed 7] [--dump context-scores.jsonl] [--data ../shared/data/llm]
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../src/fs.js";
import { scoreWindows } from "../src/llm/injection/context.js";
import { CONTEXT_WEIGHT_DECAY, contextTrainingSet, trainContextClassifier } from "../src/llm/injection/context-model.js";
import { isDocumentSource, readJsonl, sourceGroup } from "../src/llm/injection/data.js";
import { featurizeAll } from "../src/llm/injection/features.js";
import { chooseThreshold } from "../src/llm/injection/metrics.js";
import { DEFAULT_TRAIN_OPTIONS, injectionProbabilities } from "../src/llm/injection/model.js";
import { formatModeReports, formatProtocolReport, modeReports, protocolReport } from "../src/llm/injection/protocol.js";
import { normalizeText } from "../src/llm/normalize.js";

const root = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    "prompt-scores": { type: "string" },
    sources: { type: "boolean", default: false },
    generated: { type: "string", default: "800" },
    technical: { type: "string" },
    epochs: { type: "string" },
    hidden: { type: "string" },
    "weight-decay": { type: "string", default: String(CONTEXT_WEIGHT_DECAY) },
    "max-fpr": { type: "string", default: "0.03" },
    seed: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.seed) },
    dump: { type: "string" },
    data: { type: "string", default: resolve(root, "../shared/data/llm") },
    supplement: { type: "string", default: resolve(root, "data/llm/supplement.jsonl") },
  },
});

const rows = [...readJsonl(join(args.data, "prompts.jsonl")), ...readJsonl(join(args.data, "harmful.jsonl")), ...readJsonl(args.supplement)].filter(
  (r) => r.use === "train",
);
const started = performance.now();
const groups = rows.map(sourceGroup);
const seed = Number(args.seed);
const contextSet = contextTrainingSet(rows, {
  generated: Number(args.generated),
  ...(args.technical === undefined ? {} : { technical: Number(args.technical) }),
  seed,
});
const contextFeatures = featurizeAll(contextSet.rows.map((r) => r.text));
const contextScores = Float32Array.from(rows, () => Number.NaN);
const windowScores = new Map<number, number[]>();
const documentGroups = [...new Set(rows.flatMap((r, i) => (isDocumentSource(r) ? [groups[i]] : [])))].sort();
for (const [k, group] of documentGroups.entries()) {
  const held = new Set(rows.flatMap((_, i) => (groups[i] === group ? [i] : [])));
  const classifier = await trainContextClassifier(
    contextSet,
    contextFeatures,
    held,
    {
      seed,
      ...(args.epochs === undefined ? {} : { epochs: Number(args.epochs) }),
      ...(args.hidden === undefined ? {} : { hidden: Number(args.hidden) }),
    },
    Number(args["weight-decay"]),
  );
  for (const i of held) {
    const { score, scores } = await scoreWindows(normalizeText(rows[i].text).text, (x, n) => injectionProbabilities(classifier, x, n));
    contextScores[i] = score;
    windowScores.set(i, Array.from(scores));
  }
  await classifier.release();
  process.stderr.write(`document source ${k + 1}/${documentGroups.length} held out: ${group}\n`);
}

const maxFpr = Number(args["max-fpr"]);
if (args["prompt-scores"]) {
  const dumped = readFileSync(args["prompt-scores"], "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { score: number; text: string });
  if (dumped.length !== rows.length || dumped.some((d, i) => d.text !== rows[i].text))
    throw new Error(`${args["prompt-scores"]} does not hold the same rows in the same order; re-run scripts/injection-loso.ts --dump on this corpus`);
  const promptScores = Float32Array.from(dumped, (d) => d.score);
  process.stdout.write(formatModeReports(modeReports(rows, promptScores, contextScores, groups, maxFpr), { sources: args.sources }));
} else {
  const documents = rows.flatMap((r, i) => (isDocumentSource(r) ? [i] : []));
  const values = documents.map((i) => contextScores[i]);
  const { threshold } = chooseThreshold(
    values,
    documents.map((i) => rows[i].label),
    maxFpr,
  );
  process.stdout.write(
    formatProtocolReport(
      "documents and tool outputs, context mode",
      protocolReport(
        documents.map((i) => rows[i]),
        values,
        threshold,
      ),
      { sources: args.sources },
    ),
  );
}
if (args.dump) {
  const lines = rows.flatMap((r, i) =>
    isDocumentSource(r)
      ? [JSON.stringify({ context: contextScores[i], windows: windowScores.get(i), group: groups[i], label: r.label, kind: r.kind, text: r.text })]
      : [],
  );
  writeFileAtomic(args.dump, `${lines.join("\n")}\n`);
}
process.stderr.write(`${((performance.now() - started) / 1000).toFixed(0)} s\n`);
