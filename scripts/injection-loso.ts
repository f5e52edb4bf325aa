/**
 * The fast iteration loop of the prompt-injection detector: leave-one-source-out of the
 * classifier and the heuristic families only (the scanner's score), without the rest of the
 * input pipeline and without context mode, so one run takes a few CPU-minutes instead of the
 * half hour of `aegis llm eval --protocol leave-one-source-out`. The training rows are
 * featurised once; every fold trains with the engine exactly as the shipped model does.
 * Prints the same report as the protocol (threshold chosen on these scores at --max-fpr)
 * and, with --sources, the per-source lines. Only "use": "train" rows are read.
 * --dump writes every row's out-of-fold scores (JSONL) for scripts/injection-stage2.ts; with --document-windows,
 * document-shaped rows also get their highest context-mode window score.
 *
 * --context measures the application's view (issue 22): an application knows which texts are
 * retrieved documents and tool outputs, so rows of the document sources (isDocumentSource:
 * BIPIA, AgentDojo; chosen by where a row comes from, never by its label) are scanned in
 * context mode (whole text and windows, context.ts) against a threshold of their own, every
 * other row in prompt mode. It prints context mode against prompt mode on the document rows,
 * then the whole corpus so scanned, each with thresholds chosen on all out-of-fold scores
 * and, stricter, with each source's threshold chosen without it (heldOutThresholdFlags).
 * Context mode's own classifier (context-model.ts) is trained in each fold of a document
 * source without that source; --document-windows scores windows with the prompt classifier.
 *
 *   node --import tsx scripts/injection-loso.ts [--sources] [--by source|repository] [--dump scores.jsonl] [--document-windows] [--context]
 *        [--max-fpr 0.03] [--epochs 4] [--synthetic 1] [--augment 300] [--seed 7] [--data ../shared/data/llm]
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../src/fs.js";
import { scoreWindows } from "../src/llm/injection/context.js";
import { contextTrainingSet, trainContextClassifier } from "../src/llm/injection/context-model.js";
import { gatherFeatures, isDocumentSource, readJsonl, sourceGroup } from "../src/llm/injection/data.js";
import { featureDimension, featurizeAll } from "../src/llm/injection/features.js";
import { heuristicHits, heuristicScore } from "../src/llm/injection/heuristics.js";
import { chooseThreshold } from "../src/llm/injection/metrics.js";
import { combinedScore, DEFAULT_TRAIN_OPTIONS, injectionProbabilities } from "../src/llm/injection/model.js";
import { formatModeReports, formatProtocolReport, leaveOneSourceOut, modeReports, protocolReport } from "../src/llm/injection/protocol.js";
import { normalizeText } from "../src/llm/normalize.js";

const root = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    sources: { type: "boolean", default: false },
    "document-windows": { type: "boolean", default: false },
    context: { type: "boolean", default: false },
    dump: { type: "string" },
    by: { type: "string", default: "source" },
    "max-fpr": { type: "string", default: "0.03" },
    epochs: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.epochs) },
    synthetic: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.synthetic) },
    augment: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.augment) },
    "weight-decay": { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.weightDecay) },
    seed: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.seed) },
    data: { type: "string", default: resolve(root, "../shared/data/llm") },
    supplement: { type: "string", default: resolve(root, "data/llm/supplement.jsonl") },
  },
});

const rows = [...readJsonl(join(args.data, "prompts.jsonl")), ...readJsonl(join(args.data, "harmful.jsonl")), ...readJsonl(args.supplement)].filter(
  (r) => r.use === "train",
);
const dim = featureDimension();
const features = featurizeAll(rows.map((r) => r.text));
const heuristics = Float32Array.from(rows, (r) => heuristicScore(heuristicHits(normalizeText(r.text).text)));
const started = performance.now();
// --by repository: one fold per repository (about 15), stricter and twice as fast, for a first look.
const groups = args.by === "repository" ? rows.map((r) => r.source.split(":")[0]) : rows.map(sourceGroup);
/**
 * Share of a text's lines that look like a table row, code or YAML (BIPIA's tables and code
 * answers, AgentDojo's tool outputs); 0 for texts of fewer than three lines.
 */
function documentShape(text: string): number {
  const lines = text.split("\n").filter((l) => l.trim());
  if (lines.length < 3) return 0;
  const structured = lines.filter((l) => /^\s*\|.*\|\s*$|^\s{2,}\S|[;{}()]\s*$|^\s*(?:def|class|import|return|from)\b|^\s*[-\w ]{1,30}:\s|^```/.test(l));
  return structured.length / lines.length;
}
const shapes = rows.map((r) => documentShape(r.text));
// --document-windows: document-shaped rows are also scored as context mode scores them (highest window).
const windowScores = Float32Array.from(rows, () => Number.NaN);
const contextSet = args.context ? contextTrainingSet(rows, { seed: Number(args.seed) }) : undefined;
const contextFeatures = contextSet ? featurizeAll(contextSet.rows.map((r) => r.text)) : undefined;
const trainOptions = {
  epochs: Number(args.epochs),
  synthetic: Number(args.synthetic),
  augment: Number(args.augment),
  weightDecay: Number(args["weight-decay"]),
  seed: Number(args.seed),
};

const probabilities = await leaveOneSourceOut(
  rows,
  features,
  async (classifier, held) => {
    const windowed = held.filter((i) => (args.context ? isDocumentSource(rows[i]) : args["document-windows"] && shapes[i] >= 0.3));
    const contextClassifier =
      windowed.length && contextSet && contextFeatures ? await trainContextClassifier(contextSet, contextFeatures, held, trainOptions) : undefined;
    for (const i of windowed) {
      const { score } = await scoreWindows(normalizeText(rows[i].text).text, (x, n) => injectionProbabilities(contextClassifier ?? classifier, x, n));
      windowScores[i] = score;
    }
    await contextClassifier?.release();
    return injectionProbabilities(classifier, gatherFeatures(features, held, dim), held.length);
  },
  trainOptions,
  groups,
);
const scores = Float32Array.from(probabilities, (p, i) => combinedScore(p, heuristics[i]));
const chosen = chooseThreshold(
  scores,
  rows.map((r) => r.label),
  Number(args["max-fpr"]),
);
process.stdout.write(
  formatProtocolReport(`leave-one-source-out, classifier + heuristics (${rows.length} rows)`, protocolReport(rows, scores, chosen.threshold), {
    sources: args.sources,
  }),
);
if (args.context) process.stdout.write(formatModeReports(modeReports(rows, scores, windowScores, groups, Number(args["max-fpr"])), { sources: args.sources }));

if (args.dump) {
  const lines = rows.map((r, i) =>
    JSON.stringify({
      score: scores[i],
      p: probabilities[i],
      h: heuristics[i],
      shape: shapes[i],
      window: Number.isNaN(windowScores[i]) ? null : windowScores[i],
      group: groups[i],
      label: r.label,
      kind: r.kind,
      source: r.source,
      text: r.text,
    }),
  );
  writeFileAtomic(args.dump, `${lines.join("\n")}\n`);
}
process.stderr.write(`${((performance.now() - started) / 1000).toFixed(0)} s\n`);
