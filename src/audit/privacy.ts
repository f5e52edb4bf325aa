/**
 * The privacy section of an audit (`aegis audit --privacy`): the membership-inference
 * attacks of attacks/inference run against the audited model, on members and non-members
 * the auditor names and on the attacker's own reference data, scored as Carlini et al. 2022
 * ask (AUC, TPR at 0.1 % and 1 % FPR, the ROC on log axes). The strongest attack's finding
 * (OWASP ML04, ATLAS AML.T0024.000) joins the audit's findings, so a policy's
 * `fail_on_severity` and `aegis threat analyze --evidence` see it.
 *
 * By default only the attacks that need no shadow model run (loss and confidence
 * thresholds, label-only augmentation), which cost a few passes over the data. Given a
 * shadow-model count, offline LiRA and RMIA join them: the strongest attacks at few
 * models, at the price of training that many models like the target.
 */
import {
  type AugmentationName,
  type LabelledData,
  type MembershipAttackName,
  type MembershipResult,
  membershipFindings,
  membershipSections,
  membershipTable,
  runMembershipInference,
  type ShadowSetup,
} from "../attacks/index.js";
import type { Predictor } from "../engine/capabilities.js";
import type { Progress } from "../progress.js";
import type { Finding } from "../report/finding.js";
import { esc } from "../report/html.js";

/** Attacks that need no shadow model: one pass over the data each (label-only: a few more). */
export const CHEAP_PRIVACY_ATTACKS: readonly MembershipAttackName[] = ["loss", "confidence", "label-only"];
/** Added when shadow models are trained: offline, so they never train on the audited samples. */
export const SHADOW_PRIVACY_ATTACKS: readonly MembershipAttackName[] = ["lira-offline", "rmia"];

export function defaultPrivacyAttacks(shadows: boolean): MembershipAttackName[] {
  return [...CHEAP_PRIVACY_ATTACKS, ...(shadows ? SHADOW_PRIVACY_ATTACKS : [])];
}

export interface PrivacyAuditOptions {
  /** Samples the model trained on. */
  members: LabelledData;
  /** Samples from the same distribution it never saw. */
  nonMembers: LabelledData;
  /** The attacker's own data from that distribution (shadow models train on it; label-only's noise scale). */
  reference: LabelledData;
  /** Where each part came from, as the report names it. */
  sources: PrivacySection["data"];
  /** Default: defaultPrivacyAttacks(shadow given). */
  attacks?: readonly MembershipAttackName[];
  shadow?: ShadowSetup;
  augment?: AugmentationName;
  seed?: number;
}

/** report.json's `privacy`. */
export interface PrivacySection {
  data: { members: string; non_members: string; reference: string };
  membership: MembershipResult;
}

export interface PrivacyRun {
  signal?: AbortSignal;
  progress?: Progress;
  log?: (message: string) => void;
}

export async function runPrivacySection(
  model: Predictor,
  modelPath: string,
  o: PrivacyAuditOptions,
  run: PrivacyRun = {},
): Promise<{ section: PrivacySection; findings: Finding[] }> {
  const attacks = o.attacks ?? defaultPrivacyAttacks(o.shadow !== undefined);
  run.log?.(`privacy: membership inference (${attacks.join(", ")}) on ${o.members.labels.length} members and ${o.nonMembers.labels.length} non-members`);
  const membership = await runMembershipInference({
    target: model,
    members: o.members,
    nonMembers: o.nonMembers,
    reference: o.reference,
    attacks,
    shadow: o.shadow,
    augment: o.augment,
    seed: o.seed,
    signal: run.signal,
    progress: run.progress,
    log: run.log,
  });
  return { section: { data: o.sources, membership }, findings: membershipFindings(modelPath, membership) };
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

function describe(p: PrivacySection): string {
  const m = p.membership;
  const shadows = m.shadow ? `${m.shadow.offline_models} shadow models (${m.shadow.architecture}, ${m.shadow.training.epochs} epochs)` : "no shadow models";
  return (
    `${m.members} members (${p.data.members}), ${m.non_members} non-members (${p.data.non_members}), ${m.reference} reference samples (${p.data.reference}); ${shadows}. ` +
    `Accuracy on members ${pct(m.target.member_accuracy)}, on non-members ${pct(m.target.non_member_accuracy)}.`
  );
}

export function privacyMarkdown(p: PrivacySection): string[] {
  return ["## Privacy: membership inference", "", describe(p), "", ...membershipTable(p.membership)];
}

export function privacyHtml(p: PrivacySection): string {
  return `<section><h2>Privacy: membership inference</h2><p class="muted">${esc(describe(p))}</p>${membershipSections(p.membership, "h3")}</section>`;
}
