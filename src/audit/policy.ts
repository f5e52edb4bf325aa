/**
 * A robustness policy (`policy.yaml`) that CI enforces: minimum clean and robust
 * accuracy, maximum success rates, minimum perturbation sizes, and a severity no finding
 * may reach. Keys name suite entries as `id@eps` (curves) or `id` (minimum-norm
 * attacks); they are checked against the suite before anything runs. A rule whose
 * attack did not run fails: the policy cannot be shown to hold.
 */

import { atLeast, SEVERITIES, type Severity } from "../report/finding.js";
import { readYamlFile, type YamlPath, YamlReader, type YamlSource } from "../report/yaml.js";
import type { AuditConfig } from "./config.js";
import { medianMinNorm, robustAtEps } from "./findings.js";
import type { AttackRecord, AuditReport, PolicyRuleResult, PolicyVerdict } from "./types.js";

export interface KeyedThreshold {
  key: string;
  id: string;
  eps: number | null;
  threshold: number;
}

export interface Policy {
  source: string;
  minCleanAccuracy?: number;
  minRobustAccuracy: KeyedThreshold[];
  maxSuccessRate: KeyedThreshold[];
  minMedianPerturbation: KeyedThreshold[];
  failOnSeverity?: Severity;
}

const KEYS = ["min_clean_accuracy", "min_robust_accuracy", "max_success_rate", "min_median_perturbation", "fail_on_severity"];

export function loadPolicy(file: string, config: AuditConfig): Policy {
  return parsePolicy(readYamlFile(file), config);
}

export function parsePolicy(source: YamlSource, config: AuditConfig): Policy {
  const r = new YamlReader(source);
  const top = r.map([], source.value ?? {}, KEYS);
  const policy: Policy = { source: source.file, minRobustAccuracy: [], maxSuccessRate: [], minMedianPerturbation: [] };
  if (top.min_clean_accuracy !== undefined) policy.minCleanAccuracy = r.number(["min_clean_accuracy"], top.min_clean_accuracy, { min: 0, max: 1 });
  if (top.fail_on_severity !== undefined) policy.failOnSeverity = r.string(["fail_on_severity"], top.fail_on_severity, SEVERITIES) as Severity;
  const keyed = (rule: string, shape: "curve-eps" | "any" | "minimum-norm", max?: number): KeyedThreshold[] => {
    if (top[rule] === undefined) return [];
    return Object.entries(r.map([rule], top[rule])).map(([key, value]) => {
      const path = [rule, key];
      return { ...parseKey(r, path, key, config, shape), key, threshold: r.number(path, value, { min: 0, max }) };
    });
  };
  policy.minRobustAccuracy = keyed("min_robust_accuracy", "any", 1);
  policy.maxSuccessRate = keyed("max_success_rate", "curve-eps", 1);
  policy.minMedianPerturbation = keyed("min_median_perturbation", "minimum-norm");
  return policy;
}

/**
 * `id@eps` or `id`. Curves need the ε (one of theirs); minimum-norm attacks take an ε
 * only for robust accuracy (computed from the perturbations they found).
 */
function parseKey(
  r: YamlReader,
  path: YamlPath,
  key: string,
  config: AuditConfig,
  shape: "curve-eps" | "any" | "minimum-norm",
): { id: string; eps: number | null } {
  const at = key.lastIndexOf("@");
  const id = at === -1 ? key : key.slice(0, at);
  const eps = at === -1 ? null : Number(key.slice(at + 1));
  const entry = config.attacks.find((e) => e.id === id);
  if (!entry) r.fail(path, `names "${id}", which the audit suite does not run; it runs ${config.attacks.map((e) => e.id).join(", ")}`);
  if (eps !== null && (!Number.isFinite(eps) || eps < 0)) r.fail(path, `has "${key.slice(at + 1)}" after @; write ${id}@ε with a number ε ≥ 0`);
  if (entry.kind === "curve") {
    if (shape === "minimum-norm") r.fail(path, `applies to minimum-norm attacks; ${id} runs at fixed ε (use min_robust_accuracy: {${id}@ε: …})`);
    if (eps === null) r.fail(path, `needs the ε of ${id}: write ${id}@ε${entry.eps ? ` with ε one of ${entry.eps.join(", ")}` : ""}`);
    if (entry.eps && !entry.eps.some((e) => sameEps(e, eps)))
      r.fail(path, `asks for ε = ${eps}, which ${id} does not run; its ε are ${entry.eps.join(", ")} (add it to the suite's eps)`);
  } else {
    if (shape === "any" && eps === null) r.fail(path, `needs an ε: robust accuracy of a minimum-norm attack is counted at ${id}@ε`);
    if (shape !== "any" && eps !== null) r.fail(path, `takes the plain id "${id}": a minimum-norm attack has no ε`);
  }
  return { id, eps };
}

const sameEps = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a));

const fmt = (v: number) => (Number.isFinite(v) ? String(Number(v.toFixed(4))) : "unbounded");

export function evaluatePolicy(policy: Policy, report: Omit<AuditReport, "policy">): PolicyVerdict {
  const rules: PolicyRuleResult[] = [];
  if (policy.minCleanAccuracy !== undefined) {
    const t = policy.minCleanAccuracy;
    const v = report.clean_accuracy;
    rules.push({
      rule: "min_clean_accuracy",
      key: null,
      threshold: t,
      actual: v,
      passed: v >= t,
      detail: `clean accuracy ${fmt(v)} ${v >= t ? "≥" : "<"} ${t}`,
    });
  }
  const section = (id: string) => report.attacks.find((a) => a.id === id);
  const unavailable = (a: AttackRecord | undefined, id: string) =>
    !a
      ? `${id} is not in the report`
      : `not evaluated: ${id} ${a.status === "done" ? "has no run at this ε" : `was ${a.status}${a.reason ? ` (${a.reason})` : ""}`}`;
  const keyed = (
    rule: PolicyRuleResult["rule"],
    list: KeyedThreshold[],
    measure: (a: AttackRecord, eps: number | null) => number | undefined,
    atLeast: boolean,
  ) => {
    for (const k of list) {
      const a = section(k.id);
      const v = a ? measure(a, k.eps) : undefined;
      if (v === undefined) {
        rules.push({ rule, key: k.key, threshold: k.threshold, actual: null, passed: false, detail: unavailable(a, k.id) });
        continue;
      }
      const passed = atLeast ? v >= k.threshold : v <= k.threshold;
      const what = rule === "min_robust_accuracy" ? "robust accuracy" : rule === "max_success_rate" ? "success rate" : "median perturbation";
      rules.push({
        rule,
        key: k.key,
        threshold: k.threshold,
        actual: Number.isFinite(v) ? v : "unbounded",
        passed,
        detail: `${k.key} ${what} ${fmt(v)} ${atLeast ? (passed ? "≥" : "<") : passed ? "≤" : ">"} ${k.threshold}`,
      });
    }
  };
  const run = (a: AttackRecord, eps: number | null) => a.runs.find((p) => (eps === null ? p.eps === null : p.eps !== null && sameEps(p.eps, eps)));
  keyed(
    "min_robust_accuracy",
    policy.minRobustAccuracy,
    (a, eps) =>
      a.kind === "minimum-norm" ? (a.min_norms && a.runs.length > 0 && eps !== null ? robustAtEps(a.min_norms, eps) : undefined) : run(a, eps)?.robust_accuracy,
    true,
  );
  keyed("max_success_rate", policy.maxSuccessRate, (a, eps) => run(a, a.kind === "minimum-norm" ? null : eps)?.success_rate, false);
  keyed("min_median_perturbation", policy.minMedianPerturbation, (a) => (a.runs.length > 0 ? medianMinNorm(a) : undefined), true);
  if (policy.failOnSeverity) {
    const limit = policy.failOnSeverity;
    const hits = report.findings.filter((f) => atLeast(f.severity, limit));
    rules.push({
      rule: "fail_on_severity",
      key: null,
      threshold: policy.failOnSeverity,
      actual: hits.length > 0 ? hits[0].severity : null,
      passed: hits.length === 0,
      detail:
        hits.length === 0
          ? `no finding of severity ${policy.failOnSeverity} or above`
          : `${hits.length} finding(s) of severity ${policy.failOnSeverity} or above: ${hits.map((f) => f.rule).join(", ")}`,
    });
  }
  return { source: policy.source, passed: rules.every((r) => r.passed), rules };
}
