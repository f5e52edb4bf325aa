/**
 * The audit's time budget. Before any attack runs, each one is warmed up on a few samples
 * (the first ε of a curve, where fewer samples break early, so the cost is not
 * underestimated), and its cost per sample is extrapolated to the whole suite: that is the
 * estimate printed up front. With a budget, the planner shrinks the attacks that do not fit
 * — samples first, down to a floor, then iterations (maxQueries or maxIter), since fewer
 * iterations make an attack weaker and the audit optimistic — by one factor for all, so
 * each keeps its share. It plans again before every attack with the time actually left, so
 * an attack that stops early (a model that breaks easily) hands its time to the next ones,
 * and a deadline stops whatever would run past the budget. Every cut is recorded.
 */
import { AegisError } from "../errors.js";
import type { BudgetRecord } from "./types.js";

/** Seconds in "90", "90s", "10m", "1h", "1h30m" or "2m30s". */
export function parseDuration(flag: string, text: string): number {
  const trimmed = text.trim();
  const plain = Number(trimmed);
  if (trimmed !== "" && Number.isFinite(plain) && plain > 0) return plain;
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(trimmed);
  const seconds = m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : 0;
  if (!m || !(seconds > 0)) throw new AegisError("BAD_OPTION", `${flag} takes a duration such as 300, 90s, 10m or 1h30m, not "${text}"`);
  return seconds;
}

/** "4 min 10 s", "12.5 s" */
export function durationText(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - m * 60);
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min${s > 0 ? ` ${s} s` : ""}`;
}

/** The parameter that sets how long an attack searches, when it has one. */
export interface IterationKnob {
  param: "maxQueries" | "maxIter";
  value: number;
}

export function iterationKnob(params: Record<string, unknown>, declared: readonly string[]): IterationKnob | null {
  for (const param of ["maxQueries", "maxIter"] as const) {
    const value = params[param];
    if (declared.includes(param) && typeof value === "number" && Number.isFinite(value) && value >= 2) return { param, value };
  }
  return null;
}

/** One attack of the suite as the planner sees it. */
export interface PlanItem {
  /** Samples the suite gives it. */
  samples: number;
  /** Runs (ε values; 1 for a minimum-norm attack). */
  runs: number;
  /** Measured seconds per sample and run at the full iteration count. */
  perSample: number;
  knob: IterationKnob | null;
}

/** What an attack runs with after planning. */
export interface Allotment {
  samples: number;
  /** The knob's new value, or null when iterations are not cut. */
  iterations: number | null;
  /** Estimated seconds at these settings. */
  seconds: number;
}

/** Samples an attack keeps before its iterations are cut (or all it has, if fewer). */
export const SAMPLE_FLOOR = 10;
/** The smallest share of its iterations an attack is cut to. */
const ITERATION_FLOOR = 0.05;

function allot(item: PlanItem, scale: number): Allotment {
  const floor = Math.min(item.samples, SAMPLE_FLOOR);
  const wanted = item.samples * scale;
  const samples = Math.max(floor, Math.min(item.samples, Math.floor(wanted)));
  // Below the floor, iterations carry the rest of the cut.
  const share = item.knob && wanted < floor ? Math.max(ITERATION_FLOOR, wanted / floor) : 1;
  const iterations = item.knob && share < 1 ? Math.max(1, Math.floor(item.knob.value * share)) : null;
  const fraction = iterations !== null && item.knob ? iterations / item.knob.value : 1;
  return { samples, iterations, seconds: item.runs * samples * item.perSample * fraction };
}

/**
 * The largest common scale (≤ 1) at which the items fit `seconds`, and what each then
 * runs with; when even the smallest settings do not fit, those (the deadline cuts the rest).
 */
export function planSuite(items: readonly PlanItem[], seconds: number): Allotment[] {
  const at = (scale: number) => items.map((item) => allot(item, scale));
  const total = (a: Allotment[]) => a.reduce((s, x) => s + x.seconds, 0);
  if (total(at(1)) <= seconds) return at(1);
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (total(at(mid)) <= seconds) lo = mid;
    else hi = mid;
  }
  return at(lo);
}

/**
 * One line for every report format, next to the numbers: "time budget 5 min, estimated
 * 12 min as configured: cut (pgd: 120 of 500 samples; …)", or "… nothing cut".
 */
export function budgetText(b: BudgetRecord): string {
  const parts = [
    ...(b.seconds === null ? [] : [`time budget ${durationText(b.seconds)}`]),
    ...(b.estimate_seconds === null ? [] : [`estimated ${durationText(b.estimate_seconds)} as configured`]),
  ];
  const outcome = b.cut ? `cut, so these numbers are not a full audit's (${b.cuts.join("; ")})` : b.seconds === null ? "" : "nothing cut";
  return [parts.join(", "), outcome].filter((p) => p !== "").join(": ");
}
