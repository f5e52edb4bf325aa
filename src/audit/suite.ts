/**
 * Runs an audit suite against one model: clean accuracy, then each attack of the suite
 * on the first samples of the data (curves over ε, or one run of a minimum-norm attack),
 * then findings and the policy verdict. Every attack uses the same leading samples, so
 * their results are comparable. Ctrl-C (the signal) stops after the current step; runs
 * that finished are kept and the report says `interrupted`.
 */
import { cpus } from "node:os";
import type { Attack, AttackOutput, AutoAttackOutput, Capability, CommonParams, Norm } from "../attacks/index.js";
import { attackByName, attackParams } from "../attacks/index.js";
import type { Dataset } from "../data/index.js";
import { requireLabels } from "../data/labels.js";
import type { Predictor } from "../engine/capabilities.js";
import type { ModelSummary } from "../engine/inspect.js";
import { logSumExp } from "../engine/probabilities.js";
import { argmaxRow } from "../engine/trainer.js";
import { AegisError } from "../errors.js";
import type { Progress } from "../progress.js";
import { niceCeil } from "../report/charts.js";
import { imageLayout, perturbationPng, samplePng } from "../report/images.js";
import { gatherRows, sizeOf, sliceRows, type Tensor } from "../tensor.js";
import { AEGIS_VERSION } from "../version.js";
import type { AttackLookup, AuditConfig, SuiteEntry } from "./config.js";
import { randomTargets, runCurve } from "./curve.js";
import { deriveFindings, ensembleText, robustAtEps } from "./findings.js";
import { evaluatePolicy, type Policy } from "./policy.js";
import type { AttackRecord, AuditReport, DefenceRecord, EnsembleRecord, ExampleRecord, RunRecord } from "./types.js";

export interface AuditOptions {
  model: Predictor;
  /** What the model gives: attacks that need more are skipped with the reason. */
  capabilities: ReadonlySet<Capability>;
  modelPath: string;
  summary: ModelSummary | null;
  /** The `aegis defend` defences `model` wraps, recorded in the report (default: none). */
  defence?: DefenceRecord | null;
  data: Dataset;
  config: AuditConfig;
  policy?: Policy;
  signal?: AbortSignal;
  lookup?: AttackLookup;
  log?: (message: string) => void;
  progress?: Progress;
  /** Adversarial examples shown per attack (default 8). */
  examples?: number;
}

/** PNG data URIs of one example, keyed in AuditResult.images by `${attackId}:${index}`. */
export interface ExampleImages {
  original: string;
  adversarial: string;
  perturbation: string;
}

export interface AuditResult {
  report: AuditReport;
  images: Map<string, ExampleImages>;
}

interface FinishedRun {
  record: RunRecord;
  adversarial: Tensor<"float32">;
  success: boolean[];
}

export async function runAudit(o: AuditOptions): Promise<AuditResult> {
  const started = performance.now();
  const log = o.log ?? (() => {});
  const lookup = o.lookup ?? attackByName;
  const { model, config, data } = o;
  const n = Math.min(config.samples, data.x.shape[0]);
  const x = sliceRows(data.x, 0, n);
  const labels = requireLabels(data, "an audit").slice(0, n);
  const k = model.numClasses;
  const bad = labels.findIndex((l) => !Number.isInteger(l) || l < 0 || l >= k);
  if (bad !== -1)
    throw new AegisError(
      "LABEL_OUT_OF_RANGE",
      `label ${labels[bad]} of sample ${bad} is outside the model's classes 0..${k - 1}; check the data matches the model`,
    );
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    log(`warning: ${message}`);
  };
  // Why an attack cannot run is known before any runs: say so at once, not a minute later.
  const stop = o.summary?.nonDifferentiable[0];
  const resolved = config.attacks.map((entry) => {
    const attack = lookup(entry.attack);
    // A parsed audit.yaml names only registered attacks; a config built in code may not.
    if (!attack) throw new AegisError("BAD_OPTION", `the suite's ${entry.id} names no attack ("${entry.attack}"); aegis attack --list shows them`);
    const missing = attack.needs.filter((c) => !o.capabilities.has(c));
    const skip =
      missing.length > 0
        ? `needs ${missing.join(" and ")}, which the model does not give${stop ? ` (no gradient through ${stop.opType} node ${stop.name})` : ""}`
        : null;
    return { entry, attack, skip };
  });
  for (const { entry, skip } of resolved) if (skip) warn(`${entry.id} skipped: ${skip}`);
  if (o.defence && !o.defence.adaptive)
    warn(
      `the defence was attacked non-adaptively, through the deployed model's own gradients: robust accuracy under non-adaptive attacks overstates a gradient-masking defence (Athalye, Carlini & Wagner 2018); rerun without --non-adaptive to attack it adaptively (BPDA through ${o.defence.preprocessors.join(", ") || "its preprocessors"})`,
    );
  const cleanOutput = await model.predict(x);
  const cleanCorrect = labels.map((l, i) => argmaxRow(cleanOutput, i) === l);
  const classNames = data.classNames?.length === k ? data.classNames : Array.from({ length: k }, (_, c) => String(c));
  const layout = imageLayout(x.shape.slice(1));
  const images = new Map<string, ExampleImages>();

  const totalRuns = resolved.reduce((s, r) => s + (r.skip ? 0 : runEps(r.entry, r.attack).length), 0);
  let runIndex = 0;
  let interrupted = false;
  const attacks: AttackRecord[] = [];
  for (const { entry, attack, skip } of resolved) {
    const samples = Math.min(entry.samples ?? config.samples, n);
    const record: AttackRecord = {
      id: entry.id,
      attack: entry.attack,
      title: attack.title,
      paper: attack.paper,
      kind: entry.kind,
      status: "done",
      reason: null,
      access: attack.needs.every((c) => c === "predict") ? "black-box" : "white-box",
      norm: entry.norm ?? attack.defaults.norm,
      targeted: entry.targeted ?? false,
      samples,
      params: {},
      seconds: 0,
      runs: [],
      curve: [],
      min_norms: null,
      examples: null,
    };
    attacks.push(record);
    if (skip) {
      record.status = "skipped";
      record.reason = skip;
      continue;
    }
    // A signal aborted before this attack (e.g. during the baseline of a comparison) runs none of it.
    if (interrupted || o.signal?.aborted) {
      interrupted = true;
      record.status = "not-run";
      record.reason = "the audit was interrupted before it";
      continue;
    }

    const xs = sliceRows(x, 0, samples);
    const ys = labels.slice(0, samples);
    const targets = entry.targeted ? randomTargets(ys, k, config.seed) : undefined;
    const params = attackParams(
      attack,
      { ...entry.params, norm: entry.norm, targeted: entry.targeted ?? false },
      { batchSize: config.batchSize, lenient: config.lenientParams },
    );
    // JSON has no Infinity (C&W's "no limit" ε): such values are kept as text.
    const { constraints: _, ...listed } = params;
    record.params = Object.fromEntries(
      Object.entries({ ...listed, ...(entry.kind === "curve" ? { eps: runEps(entry, attack) } : {}) }).map(([key, v]) => [
        key,
        typeof v === "number" && !Number.isFinite(v) ? String(v) : v,
      ]),
    );
    const finished: FinishedRun[] = [];
    const epsilons = runEps(entry, attack);
    const runLabel = (eps: number | null) => `[${runIndex}/${totalRuns}] ${entry.id}${eps === null ? "" : ` ε=${eps}`}`;
    const curve = await runCurve(attack, model, xs, ys, {
      epsilons,
      params,
      targets,
      cleanOutput: sliceRows(cleanOutput, 0, samples),
      seed: config.seed,
      signal: o.signal,
      progress: (eps) => {
        runIndex++;
        return o.progress?.(runLabel(eps), samples);
      },
      onRun: ({ eps, output, metrics: m, seconds }) => {
        const run: RunRecord = {
          eps,
          samples,
          clean_accuracy: m.clean_accuracy,
          robust_accuracy: m.robust_accuracy,
          success_rate: m.success_rate,
          perturbation: m.perturbation,
          queries: m.queries ?? null,
          seconds,
          per_class: perClass(ys, m.perSample.robustCorrect, k),
          ensemble: ensembleRecord(output),
        };
        record.runs.push(run);
        record.seconds += seconds;
        finished.push({ record: run, adversarial: output.x, success: m.perSample.success });
        const queries = run.queries ? `, ${Math.round(run.queries.mean)} queries/sample` : "";
        const size = entry.kind === "minimum-norm" ? `, mean L2 ${run.perturbation.l2_mean.toFixed(3)}, mean L∞ ${run.perturbation.linf_mean.toFixed(3)}` : "";
        const stages = run.ensemble ? `; ${ensembleText(run.ensemble)}` : "";
        log(
          `${runLabel(eps)}: robust accuracy ${pct(run.robust_accuracy)}, success ${pct(run.success_rate)}${size}${queries} (${seconds.toFixed(1)} s)${stages}`,
        );
      },
    });
    if (curve.interrupted) {
      const eps = epsilons[curve.runs.length];
      interrupted = true;
      record.status = "interrupted";
      record.reason = `interrupted during ${eps === null ? "its run" : `ε = ${eps}`}`;
      log(`${runLabel(eps)}: interrupted`);
    }
    if (finished.length === 0) continue;
    if (entry.kind === "minimum-norm") {
      const only = finished[0];
      record.min_norms = cleanCorrect
        .slice(0, samples)
        .map((ok, i) => (!ok ? 0 : only.success[i] ? rowNorm(only.adversarial.data, xs.data, i, sizeOf(xs.shape.slice(1)), record.norm) : null));
      record.curve = derivedCurve(record.min_norms);
    } else {
      record.curve = [...record.runs].sort((p, q) => (p.eps ?? 0) - (q.eps ?? 0)).map((p) => ({ eps: p.eps ?? 0, robust_accuracy: p.robust_accuracy }));
    }
    // Shown: the smallest ε at which the attack fooled at least half the samples, else the largest.
    const byEps = [...finished].sort((p, q) => (p.record.eps ?? 0) - (q.record.eps ?? 0));
    const shown = byEps.find((f) => f.record.success_rate >= 0.5) ?? byEps[byEps.length - 1];
    const rows = pickExamples(shown.success, ys, o.examples ?? 8);
    const items = await describeExamples(model, xs, shown.adversarial, cleanOutput, ys, targets, rows);
    record.examples = { eps: shown.record.eps, items };
    if (layout) {
      const row = sizeOf(xs.shape.slice(1));
      for (const i of rows) {
        images.set(`${entry.id}:${i}`, {
          original: samplePng(xs.data, i * row, layout, model.clipRange),
          adversarial: samplePng(shown.adversarial.data, i * row, layout, model.clipRange),
          perturbation: perturbationPng(shown.adversarial.data, xs.data, i * row, layout),
        });
      }
    }
  }
  if (interrupted) warn("the audit was interrupted (Ctrl-C): the report covers the runs that finished");

  const base = {
    aegis: AEGIS_VERSION,
    kind: "audit" as const,
    created: new Date().toISOString(),
    interrupted,
    seconds: 0,
    model: {
      path: o.modelPath,
      input_shape: [...x.shape.slice(1)],
      num_classes: k,
      clip_range: [model.clipRange[0], model.clipRange[1]] as [number, number],
      output_kind: model.outputKind,
      summary: o.summary,
      defence: o.defence ?? null,
    },
    data: { name: data.name, samples: n, class_names: classNames, per_class_samples: countPerClass(labels, k) },
    config: { source: config.source, seed: config.seed, samples: config.samples, batch_size: config.batchSize },
    clean_accuracy: cleanCorrect.filter(Boolean).length / n,
    per_class_clean: perClass(labels, cleanCorrect, k),
    attacks,
    warnings,
    environment: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length },
  };
  const findings = deriveFindings(base);
  const withFindings = { ...base, findings };
  const report: AuditReport = { ...withFindings, policy: o.policy ? evaluatePolicy(o.policy, withFindings) : null };
  report.seconds = (performance.now() - started) / 1000;
  return { report, images };
}

/** AutoAttack's output names, per sample, which of its attacks broke it; other attacks' outputs do not. */
function ensembleRecord(out: AttackOutput | AutoAttackOutput): EnsembleRecord | null {
  if (!("brokenBy" in out)) return null;
  const count = (name: string | null) => out.brokenBy.filter((b) => b === name).length;
  return {
    stages: out.attacks.map((attack) => ({ attack, broken: count(attack) })),
    clean: count("clean"),
    robust: count(null),
    broken_by: out.brokenBy,
  };
}

/** The ε of each run: a curve's list (the attack's default when the suite gives none), or one minimum-norm run. */
function runEps(entry: SuiteEntry, attack: Attack<CommonParams, unknown>): (number | null)[] {
  if (entry.kind === "minimum-norm") return [null];
  return entry.eps ?? [attack.defaults.eps];
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function countPerClass(labels: readonly number[], k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

function perClass(labels: readonly number[], correct: readonly boolean[], k: number): (number | null)[] {
  const counts = countPerClass(labels, k);
  const hits = new Array<number>(k).fill(0);
  labels.forEach((l, i) => {
    if (correct[i]) hits[l]++;
  });
  return counts.map((c, j) => (c === 0 ? null : hits[j] / c));
}

function rowNorm(adv: Float32Array, x: Float32Array, i: number, row: number, norm: Norm): number {
  let acc = 0;
  for (let j = i * row; j < (i + 1) * row; j++) {
    const d = Math.abs(adv[j] - x[j]);
    if (norm === "inf") acc = Math.max(acc, d);
    else acc += norm === "2" ? d * d : d;
  }
  return norm === "2" ? Math.sqrt(acc) : acc;
}

/** 21 points from 0 to a round number above the largest perturbation found. */
function derivedCurve(minNorms: readonly (number | null)[]): { eps: number; robust_accuracy: number }[] {
  const largest = Math.max(0, ...minNorms.filter((v): v is number => v !== null));
  const top = niceCeil(largest);
  return Array.from({ length: 21 }, (_, i) => {
    const eps = Number(((top * i) / 20).toPrecision(6));
    return { eps, robust_accuracy: robustAtEps(minNorms, eps) };
  });
}

/** Successful samples, one per true class first so the grid shows variety. */
function pickExamples(success: readonly boolean[], labels: readonly number[], count: number): number[] {
  const picked: number[] = [];
  const classes = new Set<number>();
  for (let i = 0; i < success.length && picked.length < count; i++) {
    if (success[i] && !classes.has(labels[i])) {
      picked.push(i);
      classes.add(labels[i]);
    }
  }
  for (let i = 0; i < success.length && picked.length < count; i++) if (success[i] && !picked.includes(i)) picked.push(i);
  return picked.sort((a, b) => a - b);
}

async function describeExamples(
  model: Predictor,
  x: Tensor<"float32">,
  adversarial: Tensor<"float32">,
  cleanOutput: Tensor<"float32">,
  labels: readonly number[],
  targets: readonly number[] | undefined,
  rows: number[],
): Promise<ExampleRecord[]> {
  if (rows.length === 0) return [];
  const advOutput = await model.predict(gatherRows(adversarial, rows));
  const row = sizeOf(x.shape.slice(1));
  return rows.map((i, r) => {
    const clean = confidence(cleanOutput, i, model.outputKind);
    const adv = confidence(advOutput, r, model.outputKind);
    let linf = 0;
    let sq = 0;
    for (let j = i * row; j < (i + 1) * row; j++) {
      const d = Math.abs(adversarial.data[j] - x.data[j]);
      linf = Math.max(linf, d);
      sq += d * d;
    }
    return {
      index: i,
      label: labels[i],
      target: targets ? targets[i] : null,
      clean_prediction: clean.label,
      clean_confidence: clean.p,
      adversarial_prediction: adv.label,
      adversarial_confidence: adv.p,
      linf,
      l2: Math.sqrt(sq),
    };
  });
}

/** Predicted class and its probability (the softmax of logits). */
function confidence(output: Tensor<"float32">, i: number, kind: "logits" | "probs"): { label: number; p: number } {
  const k = output.shape[1];
  const label = argmaxRow(output, i);
  const z = output.data.subarray(i * k, (i + 1) * k);
  return { label, p: kind === "probs" ? z[label] : Math.exp(z[label] - logSumExp(z)) };
}
