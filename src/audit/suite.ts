/**
 * Runs an audit suite against one model: clean accuracy, then each attack of the suite
 * on the first samples of the data (curves over ε, or one run of a minimum-norm attack),
 * then findings and the policy verdict. Every attack uses the same leading samples, so
 * their results are comparable. An attack the model cannot run (a capability it lacks, an
 * input it means nothing on) is skipped with the reason; one that fails is named with its
 * error while the others run. With a time budget the attacks are warmed up, planned into
 * it and cut where they must be (budget.ts). Ctrl-C or SIGTERM (the signal) stops after
 * the current step; runs that finished are kept and the report says `interrupted`.
 */
import { cpus } from "node:os";
import type { Attack, AttackOutput, AttackParams, AutoAttackOutput, Capability, CommonParams, FeatureConstraints, Norm } from "../attacks/index.js";
import { attackByName, attackParams, inputMismatch } from "../attacks/index.js";
import type { Dataset } from "../data/index.js";
import { requireLabels } from "../data/labels.js";
import { createRng } from "../data/random.js";
import type { Predictor } from "../engine/capabilities.js";
import { type InputKind, inputKindOfShape } from "../engine/input-kind.js";
import type { ModelSummary } from "../engine/inspect.js";
import { logSumExp } from "../engine/probabilities.js";
import { argmaxRow } from "../engine/trainer.js";
import { AegisError, isAegisError } from "../errors.js";
import type { Progress } from "../progress.js";
import { niceCeil } from "../report/charts.js";
import { bySeverity, type Finding } from "../report/finding.js";
import { imageLayout, perturbationPng, samplePng } from "../report/images.js";
import { gatherRows, sizeOf, sliceRows, type Tensor } from "../tensor.js";
import { AEGIS_VERSION } from "../version.js";
import { type BackdoorAuditOptions, type BackdoorSection, checkBackdoorData, runBackdoorSection } from "./backdoor.js";
import { durationText, iterationKnob, planSuite } from "./budget.js";
import type { AttackLookup, AuditConfig, SuiteEntry } from "./config.js";
import { type Curve, randomTargets, runCurve, type ShardExecutor } from "./curve.js";
import { deriveFindings, ensembleText, robustAtEps } from "./findings.js";
import { evaluatePolicy, type Policy } from "./policy.js";
import { type PrivacyAuditOptions, type PrivacySection, runPrivacySection } from "./privacy.js";
import type { AttackRecord, AuditReport, DefenceRecord, EnsembleRecord, ExampleRecord, RunRecord } from "./types.js";

export interface AuditOptions {
  model: Predictor;
  /** What the model gives: attacks that need more are skipped with the reason. */
  capabilities: ReadonlySet<Capability>;
  modelPath: string;
  summary: ModelSummary | null;
  /** What the model's input is (engine/input-kind.ts); attacks that mean nothing on it are skipped. Default: guessed from the sample shape. */
  inputKind?: InputKind;
  /** Feature constraints of tabular data, kept by every attack (`aegis audit --constraints`). */
  constraints?: FeatureConstraints;
  /** The `aegis defend` defences `model` wraps, recorded in the report (default: none). */
  defence?: DefenceRecord | null;
  data: Dataset;
  config: AuditConfig;
  policy?: Policy;
  signal?: AbortSignal;
  /** Warm every attack up first and say what the suite will cost (always done with a time budget). */
  estimate?: boolean;
  /** performance.now() when the time budget's clock started (default: when the audit starts; the CLI gives 0, the process start, so start-up counts too). */
  clockStart?: number;
  lookup?: AttackLookup;
  log?: (message: string) => void;
  progress?: Progress;
  /** Adversarial examples shown per attack (default 8). */
  examples?: number;
  /** Runs each attack run's shards (default: in this process; campaigns/ sends them to workers). */
  executor?: ShardExecutor;
  /** Membership inference after the evasion suite (`aegis audit --privacy`); the report's `privacy` section. */
  privacy?: PrivacyAuditOptions;
  /** A poison manifest whose attack success is measured on all of `data` (`aegis audit --backdoor`); the report's `backdoor` section. */
  backdoor?: BackdoorAuditOptions;
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

/** An entry of the suite with its attack, and why it cannot run (null when it can). */
interface Resolved {
  entry: SuiteEntry;
  attack: Attack<CommonParams, unknown>;
  skip: string | null;
  record: AttackRecord;
  params: AttackParams;
  /** Seconds per sample and run the warm-up measured (null before it, or without one). */
  perSample: number | null;
}

/** Samples an attack is warmed up on. */
const WARMUP_SAMPLES = 2;

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
  if (o.backdoor) checkBackdoorData(o.backdoor.manifest, data.x.shape.slice(1));
  const kind = o.inputKind ?? inputKindOfShape(model.inputShape);
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    log(`warning: ${message}`);
  };
  // Why an attack cannot run is known before any runs: say so at once, not a minute later.
  const stop = o.summary?.nonDifferentiable[0];
  const suite: Resolved[] = config.attacks.map((entry) => {
    const attack = lookup(entry.attack);
    // A parsed audit.yaml names only registered attacks; a config built in code may not.
    if (!attack) throw new AegisError("BAD_OPTION", `the suite's ${entry.id} names no attack ("${entry.attack}"); aegis attack --list shows them`);
    const missing = attack.needs.filter((c) => !o.capabilities.has(c));
    const mismatch = inputMismatch(attack, kind);
    const skip =
      missing.length > 0
        ? `needs ${missing.join(" and ")}, which the model does not give${stop ? ` (no gradient through ${stop.opType} node ${stop.name})` : ""}`
        : mismatch;
    const samples = Math.min(entry.samples ?? config.samples, n);
    const record: AttackRecord = {
      id: entry.id,
      attack: entry.attack,
      title: attack.title,
      paper: attack.paper,
      kind: entry.kind,
      status: skip ? "skipped" : "done",
      reason: skip,
      access: attack.needs.every((c) => c === "predict") ? "black-box" : "white-box",
      norm: entry.norm ?? attack.defaults.norm,
      targeted: entry.targeted ?? false,
      samples,
      params: {},
      seconds: 0,
      estimate_seconds: null,
      cuts: [],
      runs: [],
      curve: [],
      min_norms: null,
      examples: null,
    };
    return { entry, attack, skip, record, params: { ...attack.defaults }, perSample: null };
  });
  for (const { entry, skip } of suite) if (skip) warn(`${entry.id} skipped: ${skip}`);
  if (o.defence && !o.defence.adaptive)
    warn(
      `the defence was attacked non-adaptively, through the deployed model's own gradients: robust accuracy under non-adaptive attacks overstates a gradient-masking defence (Athalye, Carlini & Wagner 2018); rerun without --non-adaptive to attack it adaptively (BPDA through ${o.defence.preprocessors.join(", ") || "its preprocessors"})`,
    );
  const cleanOutput = await model.predict(x);
  const cleanCorrect = labels.map((l, i) => argmaxRow(cleanOutput, i) === l);
  const classNames = data.classNames?.length === k ? data.classNames : Array.from({ length: k }, (_, c) => String(c));
  const layout = imageLayout(x.shape.slice(1));
  const images = new Map<string, ExampleImages>();

  // A failure of one attack is named in its record and the others still run.
  const fail = (r: Resolved, e: unknown) => {
    const message = e instanceof AegisError ? e.message : `internal error, please report it: ${(e as Error)?.message ?? String(e)}`;
    r.record.status = "failed";
    r.record.reason = message;
    warn(`${r.entry.id} failed: ${message}`);
    if (!(e instanceof AegisError)) log((e as Error)?.stack ?? String(e));
  };
  for (const r of suite) {
    if (r.skip) continue;
    try {
      r.params = attackParams(
        r.attack,
        { ...r.entry.params, norm: r.entry.norm, targeted: r.entry.targeted ?? false },
        { batchSize: config.batchSize, lenient: config.lenientParams },
      );
      if (o.constraints) r.params.constraints = o.constraints;
    } catch (e) {
      fail(r, e);
    }
  }
  const runnable = () => suite.filter((r) => r.record.status === "done" && r.record.runs.length === 0);
  const targetsOf = (r: Resolved, ys: readonly number[]) => (r.entry.targeted ? randomTargets(ys, k, config.seed) : undefined);

  const budget = config.timeBudget ?? null;
  // The budget's deadline, a little before its end so the reports are written within it.
  const deadline = budget === null ? null : new AbortController();
  const deadlineAt = budget === null ? Number.POSITIVE_INFINITY : (o.clockStart ?? started) + budget * 1000 * 0.98 - 500;
  const timer = deadline ? setTimeout(() => deadline.abort(), Math.max(0, deadlineAt - performance.now())) : undefined;
  const signals = [o.signal, deadline?.signal].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];

  // Warm-up: each attack on a few samples at its first ε, timed; the deadline bounds it too.
  const warmupStarted = performance.now();
  let estimate: number | null = null;
  if (budget !== null || o.estimate) {
    for (const [i, r] of runnable().entries()) {
      if (signal?.aborted) break;
      const q = Math.min(WARMUP_SAMPLES, r.record.samples);
      const ys = labels.slice(0, q);
      const warmUp = () =>
        r.attack.run(model, sliceRows(x, 0, q), targetsOf(r, ys) ?? ys, { ...r.params, ...warmupEps(r) }, { rng: createRng(config.seed), signal });
      try {
        // The first call pays once for the whole suite (gradient graphs, ONNX Runtime's first runs): untimed, or the
        // first attack's estimate carries it (18× FGSM's real cost on a ResNet-18).
        if (i === 0) await warmUp();
        const t0 = performance.now();
        await warmUp();
        r.perSample = (performance.now() - t0) / 1000 / q;
        r.record.estimate_seconds = r.perSample * r.record.samples * runEps(r.entry, r.attack).length;
      } catch (e) {
        fail(r, e);
      }
    }
    if (!signal?.aborted) {
      estimate = suite.reduce((s, r) => s + (r.record.estimate_seconds ?? 0), 0);
      log(
        `estimated ${durationText(estimate)} for the suite (warm-up ${durationText((performance.now() - warmupStarted) / 1000)})${budget !== null ? `; time budget ${durationText(budget)}` : ""}`,
      );
    }
  }
  const warmupSeconds = (performance.now() - warmupStarted) / 1000;

  const totalRuns = runnable().reduce((s, r) => s + runEps(r.entry, r.attack).length, 0);
  let runIndex = 0;
  let interrupted = Boolean(o.signal?.aborted);
  let exhausted = false;
  for (const r of suite) {
    const { entry, attack, record } = r;
    if (record.status !== "done") continue;
    // A signal aborted before this attack (e.g. during the baseline of a comparison) runs none of it.
    if (interrupted || o.signal?.aborted) {
      interrupted = true;
      record.status = "not-run";
      record.reason = "the audit was interrupted before it";
      continue;
    }
    if (exhausted || deadline?.signal.aborted) {
      exhausted = true;
      record.status = "not-run";
      record.reason = "the time budget ran out before it";
      record.cuts.push("not run: the time budget ran out before it");
      continue;
    }
    if (budget !== null) fitToBudget(r, runnable(), (deadlineAt - performance.now()) / 1000);
    const samples = record.samples;
    const xs = sliceRows(x, 0, samples);
    const ys = labels.slice(0, samples);
    const targets = targetsOf(r, ys);
    const params = r.params;
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
    let curve: Curve;
    try {
      curve = await runCurve(attack, model, xs, ys, {
        epsilons,
        params,
        targets,
        cleanOutput: sliceRows(cleanOutput, 0, samples),
        seed: config.seed,
        signal,
        inputKind: kind,
        executor: o.executor,
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
          const size =
            entry.kind === "minimum-norm" ? `, mean L2 ${run.perturbation.l2_mean.toFixed(3)}, mean L∞ ${run.perturbation.linf_mean.toFixed(3)}` : "";
          const stages = run.ensemble ? `; ${ensembleText(run.ensemble)}` : "";
          log(
            `${runLabel(eps)}: robust accuracy ${pct(run.robust_accuracy)}, success ${pct(run.success_rate)}${size}${queries} (${seconds.toFixed(1)} s)${stages}`,
          );
        },
      });
    } catch (e) {
      fail(r, e);
      if (finished.length === 0) continue;
      curve = { runs: [], interrupted: false };
    }
    if (curve.interrupted) {
      const eps = epsilons[curve.runs.length];
      const during = eps === null ? "its run" : `ε = ${eps}`;
      if (o.signal?.aborted) {
        interrupted = true;
        record.status = "interrupted";
        record.reason = `interrupted during ${during}`;
      } else {
        exhausted = true;
        record.status = "interrupted";
        record.reason = `the time budget ran out during ${during}`;
        record.cuts.push(`stopped by the time budget during ${during}`);
      }
      log(`${runLabel(eps)}: ${record.reason}`);
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
  clearTimeout(timer);
  let privacy: { section: PrivacySection; findings: Finding[] } | null = null;
  if (o.privacy && interrupted) warn("the privacy section did not run: the audit was interrupted before it");
  else if (o.privacy) {
    try {
      privacy = await runPrivacySection(model, o.modelPath, o.privacy, { signal: o.signal, progress: o.progress, log });
      for (const w of privacy.section.membership.warnings) warnings.push(`privacy: ${w}`);
    } catch (e) {
      if (!isAegisError(e) || e.code !== "INTERRUPTED") throw e;
      interrupted = true;
      warn(`the privacy section stopped: ${e.message}`);
    }
  }
  let backdoor: { section: BackdoorSection; findings: Finding[] } | null = null;
  if (o.backdoor && interrupted) warn("the backdoor section did not run: the audit was interrupted before it");
  else if (o.backdoor) {
    log(`backdoor: ${o.backdoor.manifest.attack}'s attack success on ${data.x.shape[0]} samples of ${data.name}`);
    backdoor = await runBackdoorSection(model, o.modelPath, { x: data.x, labels: requireLabels(data, "an audit"), name: data.name }, o.backdoor);
  }
  if (interrupted) warn("the audit was interrupted (Ctrl-C or SIGTERM): the report covers the runs that finished");
  const cuts = suite.flatMap((r) => r.record.cuts.map((c) => `${r.entry.id}: ${c}`));
  if (cuts.length > 0) warn(`the time budget of ${durationText(budget ?? 0)} cut the suite (${cuts.join("; ")}): these numbers are not a full audit's`);

  const base = {
    aegis: AEGIS_VERSION,
    kind: "audit" as const,
    created: new Date().toISOString(),
    interrupted,
    seconds: 0,
    model: {
      path: o.modelPath,
      input_shape: [...x.shape.slice(1)],
      input_kind: kind,
      num_classes: k,
      clip_range: [model.clipRange[0], model.clipRange[1]] as [number, number],
      output_kind: model.outputKind,
      summary: o.summary,
      defence: o.defence ?? null,
    },
    data: { name: data.name, samples: n, class_names: classNames, per_class_samples: countPerClass(labels, k) },
    config: { source: config.source, seed: config.seed, samples: config.samples, batch_size: config.batchSize },
    budget:
      budget === null && estimate === null
        ? null
        : { seconds: budget, estimate_seconds: estimate, warmup_seconds: warmupSeconds, cut: cuts.length > 0, exhausted, cuts },
    clean_accuracy: cleanCorrect.filter(Boolean).length / n,
    per_class_clean: perClass(labels, cleanCorrect, k),
    attacks: suite.map((r) => r.record),
    ...(privacy ? { privacy: privacy.section } : {}),
    ...(backdoor ? { backdoor: backdoor.section } : {}),
    warnings,
    environment: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length },
  };
  const findings = bySeverity([...deriveFindings(base), ...(privacy?.findings ?? []), ...(backdoor?.findings ?? [])]);
  const withFindings = { ...base, findings };
  const report: AuditReport = { ...withFindings, policy: o.policy ? evaluatePolicy(o.policy, withFindings) : null };
  report.seconds = (performance.now() - started) / 1000;
  return { report, images };
}

/** The smallest ε of a curve (where fewer samples break early), for the warm-up; none for a minimum-norm attack. */
function warmupEps(r: Resolved): { eps?: number } {
  const list = runEps(r.entry, r.attack);
  return list[0] === null ? {} : { eps: Math.min(...(list as number[])) };
}

/**
 * Plans the attacks still to run into the seconds left and applies the first one's share:
 * its samples, then its iterations; what was cut is recorded.
 */
function fitToBudget(r: Resolved, remaining: readonly Resolved[], seconds: number): void {
  const items = remaining.map((x) => ({
    samples: x.record.samples,
    runs: runEps(x.entry, x.attack).length,
    perSample: x.perSample ?? 0,
    knob: iterationKnob(x.params, Object.keys(x.attack.help)),
  }));
  const [mine] = planSuite(items, Math.max(0, seconds));
  const { record, params } = r;
  if (mine.samples < record.samples) {
    record.cuts.push(`${mine.samples} of ${record.samples} samples`);
    record.samples = mine.samples;
  }
  const knob = items[0].knob;
  if (knob && mine.iterations !== null && mine.iterations < knob.value) {
    record.cuts.push(`${knob.param} ${knob.value} → ${mine.iterations}`);
    params[knob.param] = mine.iterations;
  }
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
