/**
 * Two models through one audit suite, side by side (`aegis audit --compare base.onnx
 * hardened.onnx`): the same samples, ε, parameters and seeds for both, so every
 * difference in the table comes from the models. The report is the candidate's (second
 * model's) audit — a policy is judged on it, and tools that read audit reports see the
 * candidate — with a `comparison` section holding the baseline's full audit, robust
 * accuracy per attack and ε with its change, and a one-line verdict.
 */
import type { Capability, Norm } from "../attacks/index.js";
import type { Predictor } from "../engine/capabilities.js";
import type { ModelSummary } from "../engine/inspect.js";
import { AegisError } from "../errors.js";
import { medianMinNorm } from "./findings.js";
import { type AuditOptions, type AuditResult, type ExampleImages, runAudit } from "./suite.js";
import type { AttackRecord, AuditReport, DefenceRecord, SuiteKind } from "./types.js";

export interface ComparedModel {
  /** Name in the report's columns, legends and verdict. */
  label: string;
  model: Predictor;
  capabilities: ReadonlySet<Capability>;
  modelPath: string;
  summary: ModelSummary | null;
  /** The `aegis defend` defences `model` wraps, e.g. to compare a model with its defended self (default: none). */
  defence?: DefenceRecord | null;
}

export interface ComparisonOptions extends Omit<AuditOptions, "model" | "capabilities" | "modelPath" | "summary" | "defence"> {
  baseline: ComparedModel;
  /** The model the policy is judged on, usually the hardened one. */
  candidate: ComparedModel;
}

/** One line of the side-by-side table. Both metrics are "higher is more robust". */
export interface ComparisonRow {
  /** The policy key: `id@eps` for a curve, `id` for a minimum-norm attack (and for a curve that ran on neither model). */
  key: string;
  /** Suite id of the attack. */
  attack: string;
  kind: SuiteKind;
  norm: Norm;
  eps: number | null;
  samples: number;
  /** Robust accuracy at ε for curves; the median smallest perturbation (in `norm`) for minimum-norm attacks. */
  metric: "robust_accuracy" | "median_perturbation";
  /** null when the attack did not run on that model; "unbounded" when a minimum-norm attack failed on most samples. */
  baseline: number | "unbounded" | null;
  candidate: number | "unbounded" | null;
  /** candidate − baseline; null when either side has no finite value. */
  delta: number | null;
  /** Why a side has no value (skipped, interrupted, not run); null when both ran. */
  note: string | null;
}

export interface ComparisonSection {
  baseline_label: string;
  candidate_label: string;
  /** The baseline's full audit (its policy is always null: a policy is judged on the candidate). */
  baseline: AuditReport;
  clean_accuracy: { baseline: number; candidate: number; delta: number };
  rows: ComparisonRow[];
  /** Key of the row the verdict leads with: the strongest attack against the candidate, at the ε where the models differ most; null when no attack ran on both. */
  headline: string | null;
  verdict: string;
}

/** The candidate's audit report with the comparison; report.json of `aegis audit --compare`. */
export type ComparisonReport = AuditReport & { comparison: ComparisonSection };

export function isComparison(report: AuditReport): report is ComparisonReport {
  return (report as Partial<ComparisonReport>).comparison !== undefined;
}

/** Keys of the comparison's example images: each model's own keys (`id:index`) behind its side. */
export const imageKey = (side: "baseline" | "candidate", key: string) => `${side}/${key}`;

/**
 * Default labels: the files' base names without `.onnx`, or the paths as given when the
 * base names are the same.
 */
export function defaultLabels(baselinePath: string, candidatePath: string): [string, string] {
  const base = (p: string) => (p.split(/[\\/]/).pop() ?? p).replace(/\.onnx$/i, "");
  const labels: [string, string] = [base(baselinePath), base(candidatePath)];
  return labels[0] === labels[1] ? [baselinePath, candidatePath] : labels;
}

export async function runComparison(o: ComparisonOptions): Promise<{ report: ComparisonReport; images: Map<string, ExampleImages> }> {
  const { baseline, candidate, policy, ...shared } = o;
  checkComparable(baseline, candidate);
  const log = o.log ?? (() => {});
  const audit = async (m: ComparedModel, judged: boolean, timeBudget: number | undefined, clockStart: number | undefined): Promise<AuditResult> => {
    log(`— ${m.label} (${m.modelPath})`);
    return runAudit({
      ...shared,
      config: { ...shared.config, timeBudget },
      clockStart,
      model: m.model,
      capabilities: m.capabilities,
      modelPath: m.modelPath,
      summary: m.summary,
      defence: m.defence,
      policy: judged ? policy : undefined,
      log: (message) => log(`${m.label}: ${message}`),
    });
  };
  // One after the other, so a Ctrl-C during the baseline leaves the candidate's audit
  // marked not-run rather than half-measured.
  // A time budget is shared: half for the baseline, what it left for the candidate.
  const budget = shared.config.timeBudget;
  const clockStart = o.clockStart ?? performance.now();
  const first = await audit(baseline, false, budget === undefined ? undefined : budget / 2, clockStart);
  const left = budget === undefined ? undefined : Math.max(1, budget - (performance.now() - clockStart) / 1000);
  const second = await audit(candidate, true, left, undefined);
  const report: ComparisonReport = {
    ...second.report,
    interrupted: first.report.interrupted || second.report.interrupted,
    seconds: first.report.seconds + second.report.seconds,
    comparison: compareReports(first.report, second.report, [baseline.label, candidate.label]),
  };
  const images = new Map<string, ExampleImages>();
  for (const [key, value] of first.images) images.set(imageKey("baseline", key), value);
  for (const [key, value] of second.images) images.set(imageKey("candidate", key), value);
  return { report, images };
}

/** The models must take the same samples and name the same classes, or the same suite cannot run on both. */
function checkComparable(a: ComparedModel, b: ComparedModel): void {
  const shape = (m: ComparedModel) => `[${m.model.inputShape.map((d) => (d < 0 ? "?" : d)).join(", ")}]`;
  const sameShape =
    a.model.inputShape.length === b.model.inputShape.length &&
    a.model.inputShape.every((d, i) => d < 0 || b.model.inputShape[i] < 0 || d === b.model.inputShape[i]);
  if (!sameShape)
    throw new AegisError(
      "SHAPE_MISMATCH",
      `${a.label} takes samples of shape ${shape(a)} but ${b.label} takes ${shape(b)}; --compare runs the same data through both, so compare models of the same input`,
    );
  if (a.model.numClasses !== b.model.numClasses)
    throw new AegisError(
      "SHAPE_MISMATCH",
      `${a.label} has ${a.model.numClasses} classes but ${b.label} has ${b.model.numClasses}; --compare needs two models of the same task`,
    );
  if (a.label === b.label) throw new AegisError("BAD_OPTION", `both models are labelled "${a.label}"; give two different labels with --labels`);
}

/**
 * The side-by-side table and verdict of two audits of the same suite on the same data.
 * Exported for reports audited separately (two report.json files).
 */
export function compareReports(baseline: AuditReport, candidate: AuditReport, labels: readonly [string, string]): ComparisonSection {
  if (baseline.data.name !== candidate.data.name || baseline.data.samples !== candidate.data.samples || baseline.config.seed !== candidate.config.seed)
    throw new AegisError(
      "BAD_DATA",
      `the reports were not made on the same samples (${baseline.data.samples} of ${baseline.data.name}, seed ${baseline.config.seed} against ${candidate.data.samples} of ${candidate.data.name}, seed ${candidate.config.seed}); audit both with the same --data, --samples and --seed`,
    );
  const rows: ComparisonRow[] = [];
  const ids = [...new Set([...baseline.attacks.map((a) => a.id), ...candidate.attacks.map((a) => a.id)])];
  for (const id of ids) {
    const a = baseline.attacks.find((x) => x.id === id);
    const b = candidate.attacks.find((x) => x.id === id);
    rows.push(...attackRows((a ?? b) as AttackRecord, a, b, labels));
  }
  const clean = { baseline: baseline.clean_accuracy, candidate: candidate.clean_accuracy, delta: candidate.clean_accuracy - baseline.clean_accuracy };
  const headline = pickHeadline(rows);
  return {
    baseline_label: labels[0],
    candidate_label: labels[1],
    baseline: { ...baseline, policy: null },
    clean_accuracy: clean,
    rows,
    headline: headline?.key ?? null,
    verdict: verdictText(labels[1], clean.delta, rows, headline, candidate, baseline.interrupted || candidate.interrupted),
  };
}

function attackRows(info: AttackRecord, a: AttackRecord | undefined, b: AttackRecord | undefined, labels: readonly [string, string]): ComparisonRow[] {
  const missing = (r: AttackRecord | undefined, label: string) =>
    !r ? `not in ${label}'s suite` : r.runs.length === 0 ? `${r.status} on ${label}${r.reason ? `: ${r.reason}` : ""}` : null;
  const notes = [missing(a, labels[0]), missing(b, labels[1])].filter((n) => n !== null);
  const common = { attack: info.id, kind: info.kind, norm: info.norm };
  if (info.kind === "minimum-norm") {
    const median = (r: AttackRecord | undefined): number | "unbounded" | null => {
      if (!r || r.runs.length === 0) return null;
      const m = medianMinNorm(r);
      return Number.isFinite(m) ? m : "unbounded";
    };
    const [x, y] = [median(a), median(b)];
    return [
      {
        key: info.id,
        ...common,
        eps: null,
        samples: (a?.runs[0] ?? b?.runs[0])?.samples ?? info.samples,
        metric: "median_perturbation",
        baseline: x,
        candidate: y,
        delta: typeof x === "number" && typeof y === "number" ? y - x : null,
        note: notes.length > 0 ? notes.join("; ") : null,
      },
    ];
  }
  const eps = [...new Set([...(a?.runs ?? []), ...(b?.runs ?? [])].map((p) => p.eps ?? 0))].sort((p, q) => p - q);
  if (eps.length === 0)
    return [
      {
        key: info.id,
        ...common,
        eps: null,
        samples: info.samples,
        metric: "robust_accuracy",
        baseline: null,
        candidate: null,
        delta: null,
        note: notes.join("; "),
      },
    ];
  const at = (r: AttackRecord | undefined, e: number) => r?.runs.find((p) => p.eps === e);
  return eps.map((e) => {
    const [p, q] = [at(a, e), at(b, e)];
    const rowNotes = [
      !p ? (missing(a, labels[0]) ?? `ε = ${e} did not run on ${labels[0]}`) : null,
      !q ? (missing(b, labels[1]) ?? `ε = ${e} did not run on ${labels[1]}`) : null,
    ];
    return {
      key: `${info.id}@${e}`,
      ...common,
      eps: e,
      samples: (p ?? q)?.samples ?? info.samples,
      metric: "robust_accuracy" as const,
      baseline: p?.robust_accuracy ?? null,
      candidate: q?.robust_accuracy ?? null,
      delta: p && q ? q.robust_accuracy - p.robust_accuracy : null,
      note: rowNotes.some((n) => n !== null) ? rowNotes.filter((n) => n !== null).join("; ") : null,
    };
  });
}

/**
 * The headline: the strongest attack against the candidate — the lowest robust accuracy
 * at its largest ε, among curves both models ran — at the ε where the two models differ
 * most. Without such curves, the minimum-norm attack that needed the smallest
 * perturbation on the candidate.
 */
function pickHeadline(rows: readonly ComparisonRow[]): ComparisonRow | null {
  const measured = rows.filter((r) => typeof r.baseline === "number" && typeof r.candidate === "number");
  const curves = measured.filter((r) => r.metric === "robust_accuracy");
  if (curves.length === 0)
    return measured.reduce<ComparisonRow | null>((best, r) => (!best || (r.candidate as number) < (best.candidate as number) ? r : best), null);
  const byAttack = [...new Set(curves.map((r) => r.attack))].map((attack) => curves.filter((r) => r.attack === attack));
  const strength = (list: ComparisonRow[]) => {
    const last = list.reduce((p, q) => ((q.eps ?? 0) > (p.eps ?? 0) ? q : p));
    const mean = list.reduce((s, r) => s + (r.candidate as number), 0) / list.length;
    return [last.candidate as number, mean];
  };
  const strongest = byAttack.reduce((p, q) => {
    const [a, b] = [strength(p), strength(q)];
    return b[0] < a[0] || (b[0] === a[0] && b[1] < a[1]) ? q : p;
  });
  return strongest.reduce((p, q) => {
    const [dp, dq] = [Math.abs(p.delta as number), Math.abs(q.delta as number)];
    return dq > dp || (dq === dp && (q.eps ?? 0) > (p.eps ?? 0)) ? q : p;
  });
}

const points = (delta: number) => `${Math.abs(delta * 100).toFixed(1)} points`;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const normName = (n: string) => (n === "inf" ? "L∞" : `L${n}`);

/** "hardened gains +75.2 points of pgd robust accuracy at ε = 0.3 (L∞; 1.0% → 76.2%) and loses 1.1 points of clean accuracy (97.6% → 96.5%); …" */
function verdictText(
  label: string,
  cleanDelta: number,
  rows: readonly ComparisonRow[],
  headline: ComparisonRow | null,
  candidate: AuditReport,
  interrupted: boolean,
): string {
  const clean = candidate.clean_accuracy;
  const cleanText =
    Math.abs(cleanDelta) < 5e-4
      ? `keeps its clean accuracy (${pct(clean)})`
      : `${cleanDelta > 0 ? "gains" : "loses"} ${points(cleanDelta)} of clean accuracy (${pct(clean - cleanDelta)} → ${pct(clean)})`;
  let text: string;
  if (!headline || headline.delta === null) text = `${label} ${cleanText}; no attack ran on both models`;
  else if (headline.metric === "robust_accuracy") {
    const d = headline.delta;
    const change = Math.abs(d) < 5e-4 ? "keeps the same" : d > 0 ? `gains +${points(d)} of` : `loses ${points(d)} of`;
    text = `${label} ${change} ${headline.attack} robust accuracy at ε = ${headline.eps} (${normName(headline.norm)}; ${pct(headline.baseline as number)} → ${pct(headline.candidate as number)}) and ${cleanText}`;
  } else {
    const d = headline.delta;
    text = `${label} needs a median ${normName(headline.norm)} perturbation of ${(headline.candidate as number).toFixed(3)} for ${headline.attack} instead of ${(headline.baseline as number).toFixed(3)} (${d >= 0 ? "+" : "−"}${Math.abs(d).toFixed(3)}) and ${cleanText}`;
  }
  const compared = rows.filter((r) => r.delta !== null);
  if (compared.length > 1) {
    const count = (test: (d: number) => boolean) => compared.filter((r) => test(r.delta as number)).length;
    const parts = [`higher in ${count((d) => d > 5e-4)}`, `lower in ${count((d) => d < -5e-4)}`, `the same in ${count((d) => Math.abs(d) <= 5e-4)}`];
    text += `; robustness is ${parts.join(", ")} of the ${compared.length} measurements both models ran`;
  }
  // A defence that removes gradients skips the white-box attacks: say so, not "more robust".
  const unmeasured = candidate.attacks.filter((a) => a.status === "skipped");
  if (unmeasured.length > 0)
    text += `; ${unmeasured.map((a) => a.id).join(", ")} could not run on ${label} (${unmeasured[0].reason}), so its robustness against ${unmeasured.length > 1 ? "them" : "it"} is unmeasured — audit it with an adaptive attack (BPDA; for a model wrapped by aegis defend, aegis audit --defence M.defence.json)`;
  if (interrupted) text += "; the audit was interrupted, so some measurements are missing";
  return `${text}.`;
}
