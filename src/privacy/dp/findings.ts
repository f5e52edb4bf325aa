/**
 * What a model's DP record (metadata.ts) means for membership inference, as report/ findings:
 * no record at all, a guarantee too weak to mean much, or a δ large enough to allow releasing
 * records outright, or noise drawn from a seed (anyone with the seed can subtract it).
 * Thresholds follow Ponomareva et al. 2023 ("How to DP-fy ML"): ε ≤ 1 strong, ε ≤ 10
 * reasonable, above 10 the bound says little; δ well below 1/n.
 */
import type { Finding } from "../../report/finding.js";
import { references } from "../../report/taxonomy.js";
import type { CanaryAuditResult } from "./canary-audit.js";
import type { MembershipAuditResult } from "./membership-audit.js";
import type { DpRecord } from "./metadata.js";

const MEMBERSHIP = references(["AML.T0024.000", "ML04", "privacy"]);
const FIX = "Train with `aegis train --dp --target-epsilon 3` (or add `--dp` to `aegis harden`)";

/** The DP findings for the model at `file`: one per problem, or an info finding stating a sound guarantee. */
export function dpFindings(record: DpRecord | undefined, file: string): Finding[] {
  const location = { file };
  if (!record) {
    return [
      {
        rule: "DP-NO-GUARANTEE",
        capability: "privacy",
        severity: "medium",
        title: "The model carries no differential-privacy guarantee",
        detail:
          "The model has no aegis.dp.* metadata, so nothing bounds what its outputs reveal about any one training record; models trained without DP are vulnerable to membership inference, more so the more they overfit.",
        evidence: {},
        location,
        references: MEMBERSHIP,
        recommendation: `${FIX}; the model then records its (ε, δ).`,
      },
    ];
  }
  const evidence = {
    epsilon: record.epsilon,
    delta: record.delta,
    noise_multiplier: record.noiseMultiplier,
    sampling_rate: record.samplingRate,
    steps: record.steps,
  };
  const findings: Finding[] = [];
  if (record.noiseSeeded) {
    findings.push({
      rule: "DP-SEEDED-NOISE",
      capability: "privacy",
      severity: "critical",
      title: "The model's DP noise was drawn from a seed",
      detail:
        "It was trained with --noise-seed, which makes the noise reproducible: anyone who knows or guesses the seed can regenerate it, and the (ε, δ) guarantee does not hold against them.",
      evidence,
      location,
      references: MEMBERSHIP,
      recommendation:
        "Retrain without `--noise-seed` (the default draws the noise from the operating system's entropy); seeded noise is for tests and audits only.",
    });
  }
  if (record.epsilon > 10) {
    findings.push({
      rule: "DP-WEAK-EPSILON",
      capability: "privacy",
      severity: "high",
      title: `The model's guarantee is weak: ε = ${record.epsilon.toFixed(2)}`,
      detail: `An (ε, δ)-DP model lets an attacker's odds that a record was in the training data grow by at most e^ε = ${Math.exp(record.epsilon).toPrecision(3)}×; above ε = 10 the bound says little.`,
      evidence,
      location,
      references: MEMBERSHIP,
      recommendation: `Retrain with a smaller budget, e.g. \`aegis train --dp --target-epsilon 3\`; more data, larger expected batches (\`--batch-size\`) and fewer epochs cost less accuracy at the same ε.`,
    });
  }
  const records = Math.round(1 / record.delta);
  if (record.delta > 1e-4) {
    findings.push({
      rule: "DP-LARGE-DELTA",
      capability: "privacy",
      severity: "medium",
      title: `δ = ${record.delta} is large`,
      detail: `δ is the probability that the ε bound fails; a mechanism that releases one record in ${records.toLocaleString("en-US")} outright satisfies it. δ should be well below 1/n for n training records.`,
      evidence,
      location,
      references: MEMBERSHIP,
      recommendation: "Retrain with `--delta 1e-5` or below (1/n or less for n training records).",
    });
  }
  if (findings.length === 0) {
    findings.push({
      rule: "DP-GUARANTEE",
      capability: "privacy",
      severity: "info",
      title: `The model is (ε = ${record.epsilon.toFixed(2)}, δ = ${record.delta})-DP`,
      detail: `Trained with DP-SGD (σ ${record.noiseMultiplier}, C ${record.maxGradNorm}, q ${Number(record.samplingRate.toPrecision(3))}, ${record.steps} steps, ${record.accountant} accountant): membership inference against it is bounded by the guarantee.`,
      evidence,
      location,
      references: MEMBERSHIP,
      recommendation: "Keep the noise seed unset in releases (`--noise-seed` is for tests only), and re-check ε when training longer.",
    });
  }
  return findings;
}

/**
 * The one-run audit's (canary-audit.ts) result as a finding: critical when the measured lower
 * bound on ε exceeds the accountant's ε — no correct DP-SGD does that, except with
 * probability 1 − confidence — and info otherwise, with both numbers.
 */
export function auditFindings(result: CanaryAuditResult, location: { file?: string } = {}): Finding {
  const best = result.outcomes.find((o) => o.epsilonLower === result.epsilonLower) ?? result.outcomes[0];
  const evidence = {
    epsilon_lower: result.epsilonLower,
    epsilon_claimed: result.claimedEpsilon,
    delta: result.delta,
    confidence: result.confidence,
    canaries: result.canaries,
    canaries_included: result.included,
    guesses: 2 * best.perSide,
    correct_guesses: best.correct,
    noise_multiplier: result.plan.noiseMultiplier,
    max_grad_norm: result.plan.maxGradNorm,
    sampling_rate: result.plan.samplingRate,
    steps: result.plan.steps,
  };
  const measured = `${best.correct} of ${2 * best.perSide} membership guesses on ${result.canaries} canaries were right`;
  const bound = `ε ≥ ${result.epsilonLower.toFixed(3)} at ${(result.confidence * 100).toFixed(0)}% confidence`;
  if (result.violated) {
    return {
      rule: "DP-AUDIT-VIOLATION",
      capability: "privacy",
      severity: "critical",
      title: `The DP implementation is broken: the audit measured ${bound}, above the claimed ε = ${result.claimedEpsilon.toFixed(3)}`,
      detail: `${measured} (Steinke, Nasr & Jagielski 2023, one-run audit). A training run that is really (ε = ${result.claimedEpsilon.toFixed(3)}, δ = ${result.delta})-DP produces this many right guesses with probability below ${(1 - result.confidence).toPrecision(2)}: the noise, the clipping, the sampling or the accounting does not do what the guarantee assumes, and models trained this way do not have the ε they record.`,
      evidence,
      location,
      references: MEMBERSHIP,
      recommendation:
        "Do not release models from this training code. Check that noise of standard deviation σC is added to every step's clipped sum, that each example's gradient is clipped before summing, that batches are Poisson-sampled at the rate the accountant uses, and that the accountant sees every step; re-run `aegis privacy audit` after the fix.",
    };
  }
  return {
    rule: "DP-AUDIT",
    capability: "privacy",
    severity: "info",
    title: `The audit measured ${bound}, within the claimed ε = ${result.claimedEpsilon.toFixed(3)}`,
    detail: `${measured} (Steinke, Nasr & Jagielski 2023, one-run audit). The measured bound is consistent with the accountant; a lower bound well below the claimed ε is normal, since the guarantee covers the worst case and a black-box audit with one run is loose.`,
    evidence,
    location,
    references: MEMBERSHIP,
    recommendation: "Keep auditing after changes to the training code (`aegis privacy audit`); more canaries (`--canaries`) tighten the bound.",
  };
}

/**
 * The membership audit's (membership-audit.ts) result as a finding: critical when an attack's
 * TPR on the DP model exceeds e^ε·FPR + δ with significance — no (ε, δ)-DP model allows that
 * (Kairouz et al. 2015) — and info otherwise, with both models' leakage.
 */
export function membershipAuditFinding(result: MembershipAuditResult, location: { file?: string } = {}): Finding {
  const [dp, twin] = result.models;
  const strongest = (m: typeof dp) => Math.max(...m.attacks.map((a) => a.auc));
  const evidence = {
    epsilon_claimed: result.claimedEpsilon,
    delta: result.delta,
    confidence: result.confidence,
    members: result.members,
    non_members: result.nonMembers,
    shadow_models: result.shadows,
    dp_auc: strongest(dp),
    non_private_auc: strongest(twin),
    dp_test_accuracy: dp.test_accuracy,
    non_private_test_accuracy: twin.test_accuracy,
    noise_multiplier: result.plan.noiseMultiplier,
    max_grad_norm: result.plan.maxGradNorm,
    sampling_rate: result.plan.samplingRate,
    steps: result.plan.steps,
  };
  const worst = result.checks.reduce((a, b) => (b.pValue < a.pValue ? b : a), result.checks[0]);
  const measured = `${worst.attack} at FPR ≤ ${100 * worst.at}%: TPR ${(100 * worst.tpr).toFixed(1)}% at FPR ${(100 * worst.fpr).toFixed(1)}%, where (ε, δ)-DP allows ${(100 * worst.bound).toFixed(1)}% (p = ${worst.pValue.toPrecision(2)})`;
  if (result.violated) {
    return {
      rule: "DP-AUDIT-VIOLATION",
      capability: "privacy",
      severity: "critical",
      title: `The DP implementation is broken: membership inference beats the bound of the claimed ε = ${result.claimedEpsilon.toFixed(3)}`,
      detail: `${measured}. No (ε = ${result.claimedEpsilon.toFixed(3)}, δ = ${result.delta})-DP model lets any attack reach TPR > e^ε·FPR + δ (Kairouz, Oh & Viswanath 2015); this measurement is significant at ${(100 * result.confidence).toFixed(0)}% confidence over all ${result.checks.length} checks. The noise, the clipping, the sampling or the accounting does not do what the guarantee assumes.`,
      evidence,
      location,
      references: MEMBERSHIP,
      recommendation:
        "Do not release models from this training code. Check that noise of standard deviation σC is added to every step's clipped sum, that each example's gradient is clipped before summing, that batches are Poisson-sampled at the rate the accountant uses, and that the accountant sees every step; re-run `aegis privacy audit --membership` after the fix.",
    };
  }
  return {
    rule: "DP-MEMBERSHIP",
    capability: "privacy",
    severity: "info",
    title: `Membership inference: AUC ${strongest(dp).toFixed(3)} against DP-SGD at ε = ${result.claimedEpsilon.toFixed(3)}, ${strongest(twin).toFixed(3)} against the non-private twin`,
    detail: `The loss-threshold attack and offline LiRA with ${result.shadows} shadow models, on ${result.members} members and ${result.nonMembers} non-members. Test accuracy ${(100 * dp.test_accuracy).toFixed(1)}% with DP, ${(100 * twin.test_accuracy).toFixed(1)}% without. The DP model's leakage stays within the (ε, δ) bound TPR ≤ e^ε·FPR + δ at every check (closest: ${measured}).`,
    evidence,
    location,
    references: MEMBERSHIP,
    recommendation:
      "Compare the twin's leakage with the DP model's to see what the guarantee buys; train releases with `aegis train --dp`, and re-run the audit after changes to the training code.",
  };
}
