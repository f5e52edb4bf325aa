/**
 * The audit report as written to report.json (schema/audit-report.schema.json); the HTML
 * and Markdown reports are views of it. Keys are snake_case like the attack report.
 */
import type { Norm, PerturbationStats } from "../attacks/index.js";
import type { InputKind } from "../engine/input-kind.js";
import type { ModelSummary } from "../engine/inspect.js";
import type { Finding } from "../report/finding.js";
import type { BackdoorSection } from "./backdoor.js";
import type { PrivacySection } from "./privacy.js";

/** A curve measures robust accuracy at fixed ε; a minimum-norm attack finds each sample's smallest perturbation. */
export type SuiteKind = "curve" | "minimum-norm";

/** One adversarial example shown in the report. */
export interface ExampleRecord {
  /** Row in the audited data. */
  index: number;
  label: number;
  target: number | null;
  clean_prediction: number;
  clean_confidence: number;
  adversarial_prediction: number;
  adversarial_confidence: number;
  linf: number;
  l2: number;
}

/**
 * An ensemble's account of one run (AutoAttack): each of its attacks runs only on the
 * samples that all before it left unbroken, so the counts say which attacks did the work.
 */
export interface EnsembleRecord {
  /** The ensemble's attacks in order, with the samples each broke (0 when it broke none or none were left). */
  stages: { attack: string; broken: number }[];
  /** Samples the model misclassified unperturbed. */
  clean: number;
  /** Samples no attack broke. */
  robust: number;
  /** Per sample: the attack that broke it, "clean", or null when it stayed robust. */
  broken_by: (string | null)[];
}

/** One attack run at one ε (or the single run of a minimum-norm attack, eps null). */
export interface RunRecord {
  eps: number | null;
  samples: number;
  clean_accuracy: number;
  robust_accuracy: number;
  success_rate: number;
  perturbation: PerturbationStats;
  queries: { mean: number; max: number } | null;
  seconds: number;
  /** Robust accuracy per class (null for a class absent from the samples). */
  per_class: (number | null)[];
  /** Which of an ensemble's attacks broke the samples; null for a single attack. */
  ensemble: EnsembleRecord | null;
}

export interface AttackRecord {
  id: string;
  attack: string;
  title: string;
  paper: string;
  kind: SuiteKind;
  /**
   * done; skipped (the model lacks a capability the attack needs, e.g. gradients, or its
   * input is of a kind the attack means nothing on); failed (it stopped with an error, named
   * in `reason`); interrupted (Ctrl-C, SIGTERM or the time budget during it); not-run
   * (after an interruption, or once the time budget ran out).
   */
  status: "done" | "skipped" | "failed" | "interrupted" | "not-run";
  /** Why it was skipped, failed, interrupted or not run; null when done. */
  reason: string | null;
  /** White-box (gradients) or black-box (predictions only). */
  access: "white-box" | "black-box";
  norm: Norm;
  targeted: boolean;
  samples: number;
  params: Record<string, unknown>;
  seconds: number;
  /** What the warm-up predicted it would take as configured; null without a warm-up. */
  estimate_seconds: number | null;
  /** What the time budget cut ("120 of 500 samples", "maxIter 40 → 20", "stopped … during ε = 0.3"); empty when nothing. */
  cuts: string[];
  runs: RunRecord[];
  /**
   * Robust accuracy against ε: measured for a curve; for a minimum-norm attack, what an
   * adversary limited to ε would reach with the perturbations it found.
   */
  curve: { eps: number; robust_accuracy: number }[];
  /**
   * Minimum-norm attacks, per sample: the size of the perturbation found (in `norm`), 0
   * for a sample the model already got wrong, null when the attack failed.
   */
  min_norms: (number | null)[] | null;
  examples: { eps: number | null; items: ExampleRecord[] } | null;
}

export interface PolicyRuleResult {
  rule: "min_clean_accuracy" | "min_robust_accuracy" | "max_success_rate" | "min_median_perturbation" | "fail_on_severity";
  /** `attack@eps`, an attack id, or null for model-wide rules. */
  key: string | null;
  threshold: number | string;
  actual: number | string | null;
  passed: boolean;
  detail: string;
}

export interface PolicyVerdict {
  source: string;
  passed: boolean;
  rules: PolicyRuleResult[];
}

/**
 * A model wrapped by `aegis defend`, audited through its defences (`aegis audit --defence`).
 * Adaptive: the undefended model with every preprocessor applied at run time and
 * differentiated by BPDA, EOT over randomised ones (Athalye, Carlini & Wagner 2018);
 * non-adaptive: the deployed graph's own gradients, which a masking defence defeats.
 */
export interface DefenceRecord {
  /** The sidecar `aegis defend` wrote (`<model>.defence.json`). */
  file: string;
  /** Input defences in the order they run, as `aegis defend --preprocess` takes them. */
  preprocessors: string[];
  postprocessors: string[];
  adaptive: boolean;
  /** Draws averaged per gradient (1 when no preprocessor is randomised). */
  eot: number;
}

/** The time budget and the cost estimate (`aegis audit --time-budget`), so a cut-down audit is never read as a full one. */
export interface BudgetRecord {
  /** The budget in seconds; null when only the estimate was made. */
  seconds: number | null;
  /** What the suite as configured would take, extrapolated from the warm-up; null when interrupted before it. */
  estimate_seconds: number | null;
  warmup_seconds: number;
  /** True when the budget cut samples or iterations, or stopped an attack. */
  cut: boolean;
  /** True when the deadline stopped an attack or left some not run. */
  exhausted: boolean;
  /** Every cut, "attack: what" ("pgd: 120 of 500 samples"). */
  cuts: string[];
}

export interface AuditReport {
  aegis: string;
  kind: "audit";
  created: string;
  interrupted: boolean;
  seconds: number;
  model: {
    path: string;
    input_shape: number[];
    /** image, tabular, sequence or tokens: what the default suite and the attacks' applicability follow. */
    input_kind: InputKind;
    num_classes: number;
    clip_range: [number, number];
    output_kind: "logits" | "probs";
    summary: ModelSummary | null;
    /** The defences the model was audited through; null for a plain model. */
    defence: DefenceRecord | null;
  };
  data: { name: string; samples: number; class_names: string[]; per_class_samples: number[] };
  config: { source: string; seed: number; samples: number; batch_size: number };
  /** The time budget and estimate; null when neither was asked for. */
  budget: BudgetRecord | null;
  clean_accuracy: number;
  per_class_clean: (number | null)[];
  attacks: AttackRecord[];
  /** Membership inference (`aegis audit --privacy`); absent when not asked for. */
  privacy?: PrivacySection;
  /** A poisoning attack's success (`aegis audit --backdoor poison.json`); absent when not asked for. */
  backdoor?: BackdoorSection;
  findings: Finding[];
  policy: PolicyVerdict | null;
  warnings: string[];
  environment: { node: string; platform: string; cpus: number };
}
