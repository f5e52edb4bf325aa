/**
 * What a model's DP record (metadata.ts) means for membership inference, as report/ findings:
 * no record at all, a guarantee too weak to mean much, or a δ large enough to allow releasing
 * records outright, or noise drawn from a seed (anyone with the seed can subtract it).
 * Thresholds follow Ponomareva et al. 2023 ("How to DP-fy ML"): ε ≤ 1 strong, ε ≤ 10
 * reasonable, above 10 the bound says little; δ well below 1/n.
 */
import type { Finding } from "../../report/finding.js";
import { references } from "../../report/taxonomy.js";
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
