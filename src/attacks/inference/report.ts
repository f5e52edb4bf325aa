/**
 * The privacy report of a membership-inference assessment, in every format report/ renders:
 * one finding for the strongest attack (the one an auditor must assume), mapped to OWASP
 * ML04 and ATLAS AML.T0024.000, with every attack's numbers beside it, and the ROC curves
 * on log axes as Carlini et al. 2022 ask, because a curve that hugs the diagonal on a linear
 * plot can still identify members with certainty at the left edge.
 */
import { atLeast, type Finding, type Severity } from "../../report/finding.js";
import { cards, esc, findingsSection, page, warningsSection } from "../../report/html.js";
import { renderJunit } from "../../report/junit.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { renderSarif } from "../../report/sarif.js";
import { references } from "../../report/taxonomy.js";
import { AEGIS_VERSION } from "../../version.js";
import type { MembershipAttackResult, MembershipResult } from "./membership.js";

export interface MembershipReport {
  model: string;
  /** Where the members, non-members and reference data came from. */
  data: { members: string; non_members: string; reference: string };
  result: MembershipResult;
  findings: Finding[];
}

export const MEMBERSHIP_RULE = "AEGIS-PRIVACY-MEMBERSHIP";

const percent = (v: number, digits = 1) => `${(100 * v).toFixed(digits)}%`;
const tprAt = (a: MembershipAttackResult, fpr: number) => a.tpr_at_low_fpr.find((p) => p.fpr === fpr)?.tpr ?? 0;

/**
 * How much an attack leaks: high when it identifies members with near certainty (TPR ≥ 1 %
 * at 0.1 % FPR, ten times chance) or ranks them well (AUC ≥ 0.75); medium at AUC ≥ 0.6 or
 * TPR ≥ 3 % at 1 % FPR; low at AUC ≥ 0.55; otherwise nothing measurable (null).
 */
export function membershipSeverity(a: MembershipAttackResult): Severity | null {
  if (tprAt(a, 0.001) >= 0.01 || a.auc >= 0.75) return "high";
  if (a.auc >= 0.6 || tprAt(a, 0.01) >= 0.03) return "medium";
  if (a.auc >= 0.55) return "low";
  return null;
}

/** The strongest attack: the most members at 0.1 % FPR, then at 1 %, then by AUC. */
export function strongestAttack(attacks: readonly MembershipAttackResult[]): MembershipAttackResult | undefined {
  const key = (a: MembershipAttackResult) => [tprAt(a, 0.001), tprAt(a, 0.01), a.auc];
  return [...attacks].sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    return kb[0] - ka[0] || kb[1] - ka[1] || kb[2] - ka[2];
  })[0];
}

/** One finding for the strongest attack when any attack leaks measurably; none otherwise. */
export function membershipFindings(model: string, result: MembershipResult): Finding[] {
  const leaking = result.attacks.filter((a) => membershipSeverity(a) !== null);
  const worst = strongestAttack(leaking);
  if (!worst) return [];
  const severity = membershipSeverity(worst) as Severity;
  const gap = result.target.member_accuracy - result.target.non_member_accuracy;
  return [
    {
      rule: MEMBERSHIP_RULE,
      capability: "inference",
      severity,
      title: `Training-set membership can be inferred (${worst.title}: AUC ${worst.auc.toFixed(3)}, TPR ${percent(tprAt(worst, 0.001))} at 0.1% FPR)`,
      detail:
        `${worst.title} (${worst.paper}) tells the model's training samples from unseen ones with AUC ${worst.auc.toFixed(3)}; ` +
        `at a false-positive rate of 0.1% it identifies ${percent(tprAt(worst, 0.001))} of the members and at 1% it identifies ${percent(tprAt(worst, 0.01))}. ` +
        `The model is ${percent(gap)} more accurate on its training samples (${percent(result.target.member_accuracy)}) than on unseen ones (${percent(result.target.non_member_accuracy)}). ` +
        "Anyone who can query it can learn whether a person's record was used to train it.",
      evidence: {
        auc: worst.auc,
        balanced_accuracy: worst.balanced_accuracy,
        tpr_at_0_1pct_fpr: tprAt(worst, 0.001),
        tpr_at_1pct_fpr: tprAt(worst, 0.01),
        shadow_models: worst.shadow_models,
        train_test_gap: gap,
      },
      location: { file: model, section: worst.attack },
      references: references(["ML04", "AML.T0024.000", "privacy"]),
      recommendation:
        "Reduce memorisation: train on more data, for fewer epochs, with weight decay and augmentation (`aegis train --weight-decay`), or with differentially private SGD; " +
        "return labels or rounded top-1 scores instead of full probabilities; then run `aegis infer membership` again.",
    },
  ];
}

function attackRows(result: MembershipResult): (string | number)[][] {
  return result.attacks.map((a) => [
    a.title,
    a.access,
    a.shadow_models,
    a.auc.toFixed(3),
    percent(a.balanced_accuracy),
    percent(tprAt(a, 0.001)),
    percent(tprAt(a, 0.01)),
    a.threshold ? `${percent(a.threshold.tpr)} / ${percent(a.threshold.fpr)}` : "—",
    membershipSeverity(a) ?? "none",
  ]);
}

const HEAD = ["attack", "access", "shadow models", "AUC", "balanced acc.", "TPR @ 0.1% FPR", "TPR @ 1% FPR", "own threshold TPR / FPR", "leak"];

/** Every attack's numbers as a Markdown table (the privacy report's and the audit's). */
export function membershipTable(res: MembershipResult): string[] {
  return table(HEAD, attackRows(res), [2, 3, 4, 5, 6]);
}

/** Every attack's numbers and the ROC curves on log axes, as HTML sections (the privacy report's and the audit's). */
export function membershipSections(res: MembershipResult, heading: "h2" | "h3" = "h2"): string {
  const rows = attackRows(res)
    .map((row) => `<tr>${row.map((v, i) => `<td${i >= 2 && i <= 6 ? ' class="num"' : ""}>${esc(v)}</td>`).join("")}</tr>`)
    .join("");
  return [
    `<section><${heading}>Attacks</${heading}><div class="scroll"><table><thead><tr>${HEAD.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows}</tbody></table></div></section>`,
    `<section><${heading}>ROC, log axes</${heading}>${rocChart(res.attacks)}<p class="muted">The diagonal is guessing. What matters is the left edge: the members an attacker identifies while almost never accusing a non-member.</p></section>`,
  ].join("\n");
}

export function membershipMarkdown(r: MembershipReport): string {
  const res = r.result;
  return [
    "# Aegis membership inference",
    "",
    `Model \`${r.model}\`: ${res.members} members (${r.data.members}), ${res.non_members} non-members (${r.data.non_members}), ${res.reference} reference samples (${r.data.reference}); query augmentation ${res.augment}.`,
    `Accuracy on members ${percent(res.target.member_accuracy)}, on non-members ${percent(res.target.non_member_accuracy)}.`,
    res.shadow
      ? `Shadow models: ${res.shadow.offline_models} offline, ${res.shadow.online_models} online, ${res.shadow.train_size} samples each, ${res.shadow.architecture}, ${res.shadow.training.epochs} epochs.`
      : "No shadow models.",
    "",
    ...findingsMarkdown(r.findings, "No attack told members from non-members measurably better than chance (AUC < 0.55, TPR < 3% at 1% FPR)."),
    "## Attacks",
    "",
    ...membershipTable(res),
    "",
    ...(res.warnings.length > 0 ? ["## Warnings", "", ...res.warnings.map((w) => `- ${w}`), ""] : []),
  ].join("\n");
}

export function membershipHtml(r: MembershipReport): string {
  const res = r.result;
  const worst = strongestAttack(res.attacks);
  const summary = cards([
    ["members / non-members", `${res.members} / ${res.non_members}`, `${res.reference} reference samples`],
    ["train / test accuracy", `${percent(res.target.member_accuracy)} / ${percent(res.target.non_member_accuracy)}`, "on members / non-members"],
    ["strongest attack", worst ? worst.title : "—", worst ? `AUC ${worst.auc.toFixed(3)}` : ""],
    ["TPR @ 0.1% FPR", worst ? percent(tprAt(worst, 0.001)) : "—", "members identified almost surely"],
  ]);
  return page("Aegis membership inference", [
    `<header><div class="eyebrow">Aegis · privacy</div><h1>Membership inference</h1><p class="muted">${esc(r.model)} · query augmentation ${esc(res.augment)}</p></header>`,
    summary,
    findingsSection(r.findings, "No attack told members from non-members measurably better than chance."),
    membershipSections(res),
    warningsSection("Warnings", res.warnings),
  ]);
}

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#be185d", "#65a30d"];

/** ROC curves on log–log axes from 10⁻³ to 1, as in Carlini et al. 2022 (Fig. 1). */
function rocChart(attacks: readonly MembershipAttackResult[]): string {
  const [w, h, left, top, size] = [640, 420, 56, 16, 340];
  const lo = -3;
  const sx = (v: number) => left + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / -lo) * size;
  const sy = (v: number) => top + size - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / -lo) * size;
  const ticks = [0.001, 0.01, 0.1, 1];
  const grid = ticks
    .map(
      (t) =>
        `<line x1="${sx(t)}" x2="${sx(t)}" y1="${top}" y2="${top + size}" stroke="#e2e8f0"/><line x1="${left}" x2="${left + size}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e2e8f0"/>` +
        `<text x="${sx(t)}" y="${top + size + 16}" text-anchor="middle" font-size="11">${t}</text><text x="${left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${t}</text>`,
    )
    .join("");
  const lines = attacks
    .map((a, i) => {
      const points = a.roc.filter(([f]) => f > 0).map(([f, t]) => `${sx(f).toFixed(1)},${sy(t).toFixed(1)}`);
      return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${points.join(" ")}"><title>${esc(a.title)}</title></polyline>`;
    })
    .join("");
  const legend = attacks
    .map((a, i) => `<text x="${left + size + 16}" y="${top + 14 + 18 * i}" font-size="12" fill="${COLORS[i % COLORS.length]}">${esc(a.title)}</text>`)
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" role="img" aria-label="ROC curves on log axes" class="chart"><rect x="${left}" y="${top}" width="${size}" height="${size}" fill="#fbfcfe" stroke="#d5dbe5"/>${grid}<line x1="${sx(0.001)}" y1="${sy(0.001)}" x2="${sx(1)}" y2="${sy(1)}" stroke="#94a3b8" stroke-dasharray="4 4"/>${lines}${legend}<text x="${left + size / 2}" y="${top + size + 36}" text-anchor="middle" font-size="12">false-positive rate</text><text x="14" y="${top + size / 2}" font-size="12" transform="rotate(-90 14 ${top + size / 2})" text-anchor="middle">true-positive rate</text></svg>`;
}

export function membershipSarif(r: MembershipReport): string {
  return renderSarif(r.findings, { name: "aegis-infer", fullName: "Aegis membership inference", version: AEGIS_VERSION });
}

/** One test case per attack, failing where it leaks at `failOn` or worse. */
export function membershipJunit(r: MembershipReport, failOn: Severity = "medium"): string {
  return renderJunit("aegis infer membership", [
    {
      name: r.model,
      cases: r.result.attacks.map((a) => {
        const s = membershipSeverity(a);
        const fails = s !== null && atLeast(s, failOn);
        return {
          name: a.title,
          classname: `aegis.infer.membership.${a.attack}`,
          time: a.seconds,
          failure: fails ? { message: `${s} leak: AUC ${a.auc.toFixed(3)}, TPR ${percent(tprAt(a, 0.001))} at 0.1% FPR` } : undefined,
        };
      }),
    },
  ]);
}
