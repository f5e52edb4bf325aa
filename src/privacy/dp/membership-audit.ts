/**
 * The membership audit of DP-SGD (issue 18's "train with and without DP, attack both"): the
 * same architecture trains on the same members twice, once with DP-SGD (dp-sgd.ts) and once
 * as a non-private twin (plain SGD, no clipping, no noise, same epochs and batch size);
 * shadow models trained like the twin on the attacker's reference data drive the
 * loss-threshold attack (Yeom et al. 2018) and offline LiRA (Carlini et al. 2022) against
 * both, on the members and as many non-members.
 *
 * The measured leakage is checked against the hypothesis-testing bound of (ε, δ)-DP (Kairouz,
 * Oh & Viswanath 2015): no test telling "member" from "non-member" has TPR > e^ε·FPR + δ.
 * Each check is one-sided and exact at one point of the DP model's ROC: the strictest threshold
 * whose FPR on the non-members is at most 0.1 %, 1 %, 10 % and 50 % (at the first two, the
 * TPR the attack reports, its FPR counted as the most it can be). Its FPR is bounded from
 * above with Clopper–Pearson on the non-members, and its member count is tested against
 * e^ε·(that bound) + δ with a binomial tail; each at (1 − confidence)/(2K) over the K checks
 * (Bonferroni), so a correct DP-SGD is flagged with probability at most 1 − confidence. Low
 * FPRs are where attacks are judged (Carlini et al.); the larger ones give the test its power
 * on the few hundred samples a quick audit has.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MembershipAttackName, type MembershipResult, runMembershipInference, type ShadowConfig, trainShadowModel } from "../../attacks/index.js";
import { binomialUpperTail, clopperPearsonUpper } from "../../binomial.js";
import { OnnxClassifier, sgd } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { decodeModel } from "../../onnx/index.js";
import type { LabelledRows } from "./canary-audit.js";
import { type DpEpochStats, type DpSgdPlan, type DpSgdSettings, trainDpSgd } from "./dp-sgd.js";

export const MEMBERSHIP_AUDIT_ATTACKS: readonly MembershipAttackName[] = ["loss", "lira-offline"];

/** The FPRs at which the DP model's TPR is checked against e^ε·FPR + δ. */
export const BOUND_CHECK_FPRS = [0.001, 0.01, 0.1, 0.5] as const;

export interface MembershipAuditOptions {
  /** A freshly initialised classifier (trainable: true) of `shadow.architecture`, with the twin's seed. */
  classifier: OnnxClassifier;
  /** How the twin and the shadow models train: SGD, the same epochs, batch size and rate as DP-SGD. */
  shadow: Omit<ShadowConfig, "training">;
  members: LabelledRows;
  nonMembers: LabelledRows;
  /** The attacker's data for the shadow models: at least as many rows as members. */
  reference: LabelledRows;
  settings: DpSgdSettings;
  /** DP-SGD's learning rate. */
  lr: number;
  /** The twin's and the shadow models' learning rate (default lr): plain SGD's steps are not clipped, so it may need a smaller one. */
  twinLr?: number;
  /** Shadow models (offline). */
  shadows: number;
  /** Confidence of the violation test (default 0.95). */
  confidence?: number;
  /** Seeds the initial weights of the twin (the DP model's come with `classifier`), the shadow plans and the attacks. */
  seed?: number;
  signal?: AbortSignal;
  onPlan?: (plan: DpSgdPlan) => void;
  onEpoch?: (stats: DpEpochStats) => void;
  log?: (message: string) => void;
  /** 1 always; 0 only in the test that shows the audit catches a DP-SGD without noise. */
  noiseScale?: number;
}

/** One check of the bound: at this point the DP model's measured TPR against e^ε·FPR + δ. */
export interface BoundCheck {
  attack: MembershipAttackName;
  /** The FPR the threshold was chosen for. */
  at: number;
  /** The threshold's FPR and TPR on the non-members and members. */
  fpr: number;
  tpr: number;
  /** e^ε·FPR + δ at the measured FPR. */
  bound: number;
  /** Chance of this many true positives or more if the model were (ε, δ)-DP (FPR at its upper confidence bound). */
  pValue: number;
  violated: boolean;
}

export interface AttackLeakage {
  attack: MembershipAttackName;
  title: string;
  auc: number;
  tpr_at_low_fpr: { fpr: number; tpr: number }[];
  /** (FPR, TPR) points of the ROC curve. */
  roc: [number, number][];
}

export interface ModelLeakage {
  model: "dp-sgd" | "non-private";
  /** The accountant's ε (null for the twin). */
  epsilon: number | null;
  train_accuracy: number;
  test_accuracy: number;
  attacks: AttackLeakage[];
}

export interface MembershipAuditResult {
  plan: DpSgdPlan;
  claimedEpsilon: number;
  delta: number;
  confidence: number;
  members: number;
  nonMembers: number;
  shadows: number;
  models: [ModelLeakage, ModelLeakage];
  checks: BoundCheck[];
  /** Some check is significant: the DP model leaks more than (ε, δ)-DP allows. */
  violated: boolean;
  warnings: string[];
}

/** The checks of the bound (ε, δ) on the DP model's ROC curves, at `confidence` over all of them. */
export function boundChecks(
  attacks: readonly AttackLeakage[],
  counts: { members: number; nonMembers: number },
  epsilon: number,
  delta: number,
  confidence: number,
): BoundCheck[] {
  const points = attacks.flatMap((a) =>
    BOUND_CHECK_FPRS.map((at) => {
      // The attack's own TPR at the low FPRs it reports, its FPR taken as the most it can be; above, from the ROC, which
      // runs from (0, 0) up, so the last point at or below the FPR is its strictest threshold there.
      const reported = a.tpr_at_low_fpr.find((p) => p.fpr === at);
      if (reported) return { attack: a.attack, at, fpr: Math.floor(at * counts.nonMembers) / counts.nonMembers, tpr: reported.tpr };
      const [fpr, tpr] = a.roc.filter(([f]) => f <= at + 1e-12).at(-1) ?? [0, 0];
      return { attack: a.attack, at, fpr, tpr };
    }),
  );
  const alpha = (1 - confidence) / (2 * points.length);
  return points.map((p) => {
    const fprHigh = clopperPearsonUpper(Math.round(p.fpr * counts.nonMembers), counts.nonMembers, alpha);
    const pValue = binomialUpperTail(Math.round(p.tpr * counts.members), counts.members, Math.min(1, Math.exp(epsilon) * fprHigh + delta));
    return { ...p, bound: Math.min(1, Math.exp(epsilon) * p.fpr + delta), pValue, violated: pValue < alpha };
  });
}

function leakage(result: MembershipResult, model: ModelLeakage["model"], epsilon: number | null): ModelLeakage {
  return {
    model,
    epsilon,
    train_accuracy: result.target.member_accuracy,
    test_accuracy: result.target.non_member_accuracy,
    attacks: result.attacks.map((a) => ({
      attack: a.attack,
      title: a.title,
      auc: a.auc,
      tpr_at_low_fpr: a.tpr_at_low_fpr,
      roc: a.roc,
    })),
  };
}

/** Trains the DP model and its non-private twin, attacks both, and checks the DP model's leakage against its (ε, δ). */
export async function auditMembership(o: MembershipAuditOptions): Promise<MembershipAuditResult> {
  const confidence = o.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new AegisError("BAD_OPTION", `--confidence must be in (0, 1), not ${confidence}`);
  const n = o.members.labels.length;
  if (o.nonMembers.labels.length < n || o.reference.labels.length < n)
    throw new AegisError(
      "BAD_OPTION",
      `the audit needs ${n} non-members and at least ${n} reference rows, but has ${o.nonMembers.labels.length} and ${o.reference.labels.length}; lower --samples or give more data`,
    );
  const seed = o.seed ?? 0;
  const log = o.log ?? (() => {});
  const { plan, history } = await trainDpSgd(o.classifier, o.members, o.settings, {
    optimizer: sgd({ lr: o.lr }),
    seed,
    signal: o.signal,
    onPlan: o.onPlan,
    onEpoch: o.onEpoch,
    noiseScale: o.noiseScale,
  });
  const config: ShadowConfig = {
    ...o.shadow,
    training: {
      epochs: o.settings.epochs,
      batchSize: o.settings.batchSize,
      optimizer: "sgd",
      lr: o.twinLr ?? o.lr,
      momentum: 0,
      weightDecay: 0,
      augment: "none",
    },
  };
  log(`training the non-private twin: plain SGD, ${o.settings.epochs} epochs`);
  const twin = await OnnxClassifier.create(decodeModel(await trainShadowModel(config, seed, o.members, { signal: o.signal })), { threads: o.shadow.threads });
  // Both attacks reuse one set of shadow models: the second run finds the first's checkpoints.
  const checkpointDir = mkdtempSync(join(tmpdir(), "aegis-membership-audit-"));
  const attack = (target: OnnxClassifier) =>
    runMembershipInference({
      target,
      members: o.members,
      nonMembers: o.nonMembers,
      reference: o.reference,
      attacks: MEMBERSHIP_AUDIT_ATTACKS,
      shadow: { config, count: o.shadows, trainSize: n, checkpointDir },
      seed,
      signal: o.signal,
      log,
    });
  try {
    const claimedEpsilon = history.at(-1)?.epsilon ?? plan.epsilon;
    const privateResult = await attack(o.classifier);
    const twinResult = await attack(twin);
    const dp = leakage(privateResult, "dp-sgd", claimedEpsilon);
    const counts = { members: n, nonMembers: o.nonMembers.labels.length };
    const checks = boundChecks(dp.attacks, counts, claimedEpsilon, plan.delta, confidence);
    return {
      plan,
      claimedEpsilon,
      delta: plan.delta,
      confidence,
      ...counts,
      shadows: o.shadows,
      models: [dp, leakage(twinResult, "non-private", null)],
      checks,
      violated: checks.some((c) => c.violated),
      warnings: [...new Set([...privateResult.warnings, ...twinResult.warnings])],
    };
  } finally {
    await twin.release();
    rmSync(checkpointDir, { recursive: true, force: true });
  }
}
