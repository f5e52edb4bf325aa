/**
 * Issue 22 experiments on top of the injection score, all by leave-one-source-out (the groups
 * of scripts/injection-loso.ts, whose --dump file this reads; only "use": "train" rows):
 *
 * 1. Harmfulness × framing. PAIR-style jailbreaks (label 1) are a role-play or "for research"
 *    framing around a harmful request; WildGuard's adversarial-benign prompts (label 0) are the
 *    same framing around a harmless one. A harmfulness classifier (the engine's logistic
 *    regression on the same features) is trained per fold on the label-0 rows only: harmful = 1
 *    for the plain harmful requests (kind harmful_request: AdvBench, HarmBench, XSTest's unsafe
 *    prompts), 0 for the benign prompts. Injection and jailbreak rows never train it (their
 *    labels say nothing about harmfulness), so its score on a held-out jailbreak is pure
 *    generalisation. --framed N adds N in-fold rows that put a plain request after a long
 *    benign prompt (harmful or not), --windows scores a row by its most harmful sentence.
 *    Compared at --max-fpr:
 *      base     noisy-OR of classifier p and heuristics h (the shipped scanner score);
 *      boost β  σ(logit(base) + β·p·q): framing × harm raises the score, framing × harmless does not;
 *      stack    per held-out group, a logistic regression over [logit p, h, logit q, p·q] fitted
 *               on the other groups' out-of-fold scores (never on the held-out group);
 *      ceiling  boost β with a perfect harmfulness score (1 for rows whose source is known to
 *               carry a harmful request), to bound what any harmfulness classifier could add.
 * 2. A threshold of its own for document-shaped inputs (dump made with --document-windows):
 *    the best pair of thresholds (prompts, documents) under the same overall FPR, with the
 *    documents scored whole or by their highest window as context mode scores them.
 *
 * 3. With --eval-only FILE (the corpus's prompts.jsonl): a check only, never a choice. Injection and
 *    harmfulness classifiers trained on all the training rows score the "use": "eval-only" rows;
 *    base and boost --beta are thresholded where leave-one-source-out put them.
 *
 *   node --import tsx scripts/injection-stage2.ts --scores base.jsonl [--harm harm.json] [--framed 1000] [--windows] [--max-fpr 0.03] [--eval-only prompts.jsonl --beta 2]
 * --harm caches the harmfulness scores (computed and written when the file does not exist).
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createRng } from "../src/data/random.js";
import { writeFileAtomic } from "../src/fs.js";
import { type CorpusRow, gatherFeatures, readJsonl } from "../src/llm/injection/data.js";
import { featureDimension, featurizeAll } from "../src/llm/injection/features.js";
import { heuristicHits, heuristicScore } from "../src/llm/injection/heuristics.js";
import { binaryMetrics, chooseThreshold } from "../src/llm/injection/metrics.js";
import { combinedScore, injectionProbabilities, sourceBalancedWeights, trainInjectionClassifier } from "../src/llm/injection/model.js";
import { formatProtocolReport, protocolReport } from "../src/llm/injection/protocol.js";
import { normalizeText } from "../src/llm/normalize.js";

const { values: args } = parseArgs({
  options: {
    scores: { type: "string" },
    harm: { type: "string" },
    framed: { type: "string", default: "0" },
    windows: { type: "boolean", default: false },
    "max-fpr": { type: "string", default: "0.03" },
    sources: { type: "boolean", default: false },
    "eval-only": { type: "string" },
    beta: { type: "string", default: "2" },
  },
});
if (!args.scores) throw new Error("pass --scores, the --dump file of scripts/injection-loso.ts");

interface ScoredRow extends CorpusRow {
  score: number;
  p: number;
  h: number;
  shape: number;
  /** Highest context-mode window score of a document-shaped row (--document-windows), else null. */
  window: number | null;
  group: string;
}
const rows = readFileSync(args.scores, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((line) => JSON.parse(line) as ScoredRow);
const labels = rows.map((r) => r.label);
const maxFpr = Number(args["max-fpr"]);
const MAX_SENTENCES = 48;
/** Rows that are documents for the document threshold (injection-loso.ts's documentShape). */
const DOCUMENT_SHAPE = 0.3;
/** Sources whose attack rows wrap a harmful request (for the ceiling only, never for training). */
const HARMFUL_ATTACK_SOURCES = /JailbreakBench\/artifacts|CodeAttack:prompts/;

const logit = (x: number) => Math.log(Math.max(x, 1e-6) / Math.max(1 - x, 1e-6));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The sentences and lines of a text of at least four words (at most MAX_SENTENCES), when it has more than one. */
function sentences(text: string): string[] {
  const units = text
    .split(/(?<=[.!?])\s+(?=\S)|\n+/)
    .map((u) => u.trim())
    .filter((u) => u.split(/\s+/).length >= 4);
  return units.length > 1 ? units.slice(0, MAX_SENTENCES) : [];
}

/**
 * Framing invariance for the harmfulness classifier, from the fold's training rows only: a long
 * benign prompt (role-play, persona, scenario) followed by a plain harmful request is harmful;
 * the same kind of prompt followed by a short benign request is not. Without them the classifier
 * learns the terse style of AdvBench-like requests and misses the same request inside a story.
 */
function framedRequests(train: readonly ScoredRow[], count: number): ScoredRow[] {
  const frames = train.filter((r) => r.kind === "benign" && r.text.length >= 200 && r.text.length <= 1500);
  const harmful = train.filter((r) => r.kind === "harmful_request");
  const harmless = train.filter((r) => r.kind === "benign" && r.text.length < 200);
  if (count <= 0 || !frames.length || !harmful.length || !harmless.length) return [];
  const rng = createRng(11);
  return Array.from({ length: count }, (_, i) => {
    const request = i % 2 ? harmful[rng.int(harmful.length)] : harmless[rng.int(harmless.length)];
    const frame = frames[rng.int(frames.length)];
    return { ...request, text: `${frame.text}\n${request.text}`, label: i % 2, source: `framed:${frame.group}`, group: "framed" };
  });
}

/** A harmfulness classifier trained on `train` (indices of label-0 rows) and the framed requests made from them. */
function trainHarmClassifier(features: Float32Array, train: readonly number[]) {
  const dim = featureDimension();
  const extra = framedRequests(
    train.map((i) => rows[i]),
    Number(args.framed),
  );
  const trainFeatures = new Float32Array((train.length + extra.length) * dim);
  trainFeatures.set(gatherFeatures(features, train, dim));
  if (extra.length) trainFeatures.set(featurizeAll(extra.map((r) => r.text)), train.length * dim);
  const harmRows = train.map((i) => ({ ...rows[i], label: rows[i].kind === "harmful_request" ? 1 : 0 }));
  return trainInjectionClassifier(trainFeatures, [...harmRows, ...extra], { augment: 0, synthetic: 0 });
}

/** Out-of-fold harmfulness of every row: one classifier per group, trained on the other groups' label-0 rows. */
async function harmScores(): Promise<Float32Array> {
  if (args.harm && existsSync(args.harm)) return Float32Array.from(JSON.parse(readFileSync(args.harm, "utf8")) as number[]);
  const dim = featureDimension();
  const features = featurizeAll(rows.map((r) => r.text));
  const q = new Float32Array(rows.length);
  for (const group of [...new Set(rows.map((r) => r.group))].sort()) {
    const held = rows.flatMap((r, i) => (r.group === group ? [i] : []));
    const train = rows.flatMap((r, i) => (r.group !== group && r.label === 0 ? [i] : []));
    const classifier = await trainHarmClassifier(features, train);
    const whole = await injectionProbabilities(classifier, gatherFeatures(features, held, dim), held.length);
    held.forEach((row, j) => {
      q[row] = whole[j];
    });
    if (args.windows) {
      // A harmful request inside a framing is one sentence among many: the row's harmfulness is its most harmful sentence's.
      const units = held.flatMap((row) => sentences(rows[row].text).map((text) => ({ row, text })));
      for (let start = 0; start < units.length; start += 2048) {
        const chunk = units.slice(start, start + 2048);
        const scores = await injectionProbabilities(classifier, featurizeAll(chunk.map((u) => u.text)), chunk.length);
        chunk.forEach((u, j) => {
          q[u.row] = Math.max(q[u.row], scores[j]);
        });
      }
    }
    await classifier.release();
    process.stderr.write(`harmfulness fold ${group}\n`);
  }
  if (args.harm) writeFileAtomic(args.harm, JSON.stringify(Array.from(q)));
  return q;
}

/** Weighted logistic regression by full-batch gradient descent on standardised features (a handful of them). */
function fitLogistic(x: readonly number[][], y: readonly number[], w: ArrayLike<number>, l2 = 1e-3, steps = 500, lr = 0.5): (row: readonly number[]) => number {
  const d = x[0].length;
  const mean = Array.from({ length: d }, (_, k) => x.reduce((a, r) => a + r[k], 0) / x.length);
  const sd = Array.from({ length: d }, (_, k) => Math.sqrt(x.reduce((a, r) => a + (r[k] - mean[k]) ** 2, 0) / x.length) || 1);
  const z = x.map((r) => r.map((v, k) => (v - mean[k]) / sd[k]));
  const beta = new Array<number>(d + 1).fill(0);
  let total = 0;
  for (let i = 0; i < x.length; i++) total += w[i];
  for (let s = 0; s < steps; s++) {
    const grad = new Array<number>(d + 1).fill(0);
    z.forEach((r, i) => {
      const e = (sigmoid(r.reduce((a, v, k) => a + beta[k] * v, beta[d])) - y[i]) * w[i];
      r.forEach((v, k) => {
        grad[k] += e * v;
      });
      grad[d] += e;
    });
    for (let k = 0; k <= d; k++) beta[k] -= lr * (grad[k] / total + (k < d ? l2 * beta[k] : 0));
  }
  return (row) => sigmoid(row.reduce((a, v, k) => a + (beta[k] * (v - mean[k])) / sd[k], beta[d]));
}

function report(name: string, scores: ArrayLike<number>): number {
  const chosen = chooseThreshold(scores, labels, maxFpr);
  process.stdout.write(formatProtocolReport(`${name} (${rows.length} rows)`, protocolReport(rows, scores, chosen.threshold), { sources: args.sources }));
  return chosen.threshold;
}

/** The eval-only check: classifiers trained on every training row, thresholds from leave-one-source-out. */
async function evalOnlyCheck(path: string, thresholds: { base: number; boost: number }, beta: number): Promise<void> {
  const held = readJsonl(path).filter((r) => r.use === "eval-only");
  const features = featurizeAll(rows.map((r) => r.text));
  const heldFeatures = featurizeAll(held.map((r) => r.text));
  const all = rows.map((_, i) => i);
  const injection = await trainInjectionClassifier(features, rows);
  const p = await injectionProbabilities(injection, heldFeatures, held.length);
  await injection.release();
  const harm = await trainHarmClassifier(
    features,
    all.filter((i) => rows[i].label === 0),
  );
  const q = await injectionProbabilities(harm, heldFeatures, held.length);
  await harm.release();
  const base = held.map((r, i) => combinedScore(p[i], heuristicScore(heuristicHits(normalizeText(r.text).text))));
  const boosted = base.map((s, i) => sigmoid(logit(s) + beta * p[i] * q[i]));
  const heldLabels = held.map((r) => r.label);
  for (const [name, scores, threshold] of [
    ["base", base, thresholds.base],
    [`boost β=${beta}`, boosted, thresholds.boost],
  ] as const) {
    const m = binaryMetrics(scores, heldLabels, threshold);
    process.stdout.write(
      `eval-only rows (${held.length}, a check, never a choice), ${name} at ${threshold.toFixed(3)}: F1 ${m.f1.toFixed(3)}, recall ${m.recall.toFixed(3)}, FPR ${(100 * m.fpr).toFixed(1)}%\n`,
    );
  }
}

/** Rows flagged by the best pair of thresholds (prompts, documents) whose overall FPR is at most maxFpr. */
function twoThresholds(documentScores: ArrayLike<number>): { flagged: number[]; prompt: number; document: number } {
  const isDocument = rows.map((r) => r.shape >= DOCUMENT_SHAPE);
  const quantiles = (values: number[], from: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return [...new Set(Array.from({ length: 150 }, (_, i) => sorted[Math.floor((from + ((1 - from) * i) / 150) * sorted.length)]))];
  };
  const flagsAt = (prompt: number, document: number) => rows.map((r, i) => Number(isDocument[i] ? documentScores[i] >= document : r.score >= prompt));
  let best = { f1: -1, flagged: [] as number[], prompt: 1, document: 1 };
  for (const prompt of quantiles(
    rows.map((r) => r.score),
    0.6,
  )) {
    for (const document of quantiles(
      rows.flatMap((_, i) => (isDocument[i] ? [documentScores[i]] : [])),
      0,
    )) {
      const flagged = flagsAt(prompt, document);
      const m = binaryMetrics(flagged, labels, 0.5);
      if (m.fpr <= maxFpr && m.f1 > best.f1) best = { f1: m.f1, flagged, prompt, document };
    }
  }
  return best;
}

const q = await harmScores();
const base = rows.map((r) => r.score);
const mean = (keep: (r: ScoredRow) => boolean) => {
  const idx = rows.flatMap((r, i) => (keep(r) ? [i] : []));
  return (idx.reduce((a, i) => a + q[i], 0) / idx.length).toFixed(3);
};
process.stdout.write(
  `harmfulness, mean out-of-fold score: plain harmful requests ${mean((r) => r.kind === "harmful_request")}, benign ${mean((r) => r.kind === "benign")}, ` +
    `WildGuard benign ${mean((r) => r.source.includes("wildguard"))}, PAIR ${mean((r) => r.source.includes("PAIR"))}, ` +
    `jailbreaks ${mean((r) => r.kind === "jailbreak")}, direct ${mean((r) => r.kind === "direct_injection")}, indirect ${mean((r) => r.kind === "indirect_injection")}\n`,
);
const baseThreshold = report("base: noisy-OR(p, h)", base);
const boostThresholds = new Map<number, number>();
const ceilingHarm = rows.map((r) => (r.kind === "harmful_request" || (r.label === 1 && HARMFUL_ATTACK_SOURCES.test(r.source)) ? 1 : 0));
for (const beta of [1, 2, 4]) {
  const threshold = report(
    `boost β=${beta}: σ(logit(base) + β·p·q)`,
    rows.map((r, i) => sigmoid(logit(r.score) + beta * r.p * q[i])),
  );
  boostThresholds.set(beta, threshold);
  report(
    `ceiling β=${beta}: a perfect harmfulness score`,
    rows.map((r, i) => sigmoid(logit(r.score) + beta * r.p * ceilingHarm[i])),
  );
}
const x = rows.map((r, i) => [logit(r.p), r.h, logit(q[i]), r.p * q[i]]);
const weights = sourceBalancedWeights(rows.map((r) => ({ label: r.label, source: r.group })));
const stacked = new Float32Array(rows.length);
for (const group of new Set(rows.map((r) => r.group))) {
  const fit = rows.flatMap((r, i) => (r.group !== group ? [i] : []));
  const predict = fitLogistic(
    fit.map((i) => x[i]),
    fit.map((i) => labels[i]),
    Float32Array.from(fit, (i) => weights[i]),
  );
  rows.forEach((r, i) => {
    if (r.group === group) stacked[i] = predict(x[i]);
  });
}
report("stack: logistic regression over [logit p, h, logit q, p·q], fitted without the held-out group", stacked);
if (rows.some((r) => r.window !== null)) {
  for (const [name, scores] of [
    ["whole", base],
    ["highest window", rows.map((r) => r.window ?? r.score)],
  ] as const) {
    const best = twoThresholds(scores);
    report(
      `documents (shape ≥ ${DOCUMENT_SHAPE}) scored by their ${name} at a threshold of their own (${best.document.toFixed(3)}; prompts ${best.prompt.toFixed(3)})`,
      best.flagged,
    );
  }
}
if (args["eval-only"]) {
  const beta = Number(args.beta);
  const boost = boostThresholds.get(beta);
  if (boost === undefined) throw new Error(`--beta must be one of ${[...boostThresholds.keys()].join(", ")}`);
  await evalOnlyCheck(args["eval-only"], { base: baseThreshold, boost }, beta);
}
