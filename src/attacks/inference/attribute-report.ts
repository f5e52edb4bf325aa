/**
 * The attribute-inference part of the privacy report: how often each attack recovers the
 * sensitive column, against the baseline that guesses it from the other columns without
 * the model, on the records under attack (and, when given, on records the model never saw,
 * since a gain only there is what the model memorised). One finding, under OWASP ML03 and
 * ATLAS AML.T0024.001, when an attack beats the baseline by 5 points or more.
 */
import type { Finding } from "../../report/finding.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { references } from "../../report/taxonomy.js";
import { type AttributeGuesses, attributeIndex, type SensitiveAttribute } from "./attribute.js";
import type { LabelledData } from "./observations.js";

export const ATTRIBUTE_RULE = "AEGIS-PRIVACY-ATTRIBUTE";
const MEANINGFUL_GAIN = 0.05;

export interface AttributeScores {
  records: number;
  baseline: number;
  black_box: number;
  white_box: number | null;
}

export interface AttributeReport {
  model: string;
  columns: number[];
  values: string[];
  /** The records under attack (e.g. training records). */
  attacked: AttributeScores;
  /** Records the model never saw, for comparison. */
  unseen: AttributeScores | null;
  findings: Finding[];
}

export function attributeScores(attribute: SensitiveAttribute, records: LabelledData, guesses: AttributeGuesses): AttributeScores {
  const truth = attributeIndex(attribute, records);
  const accuracy = (g: number[]) => g.filter((v, i) => v === truth[i]).length / g.length;
  return {
    records: truth.length,
    baseline: accuracy(guesses.baseline),
    black_box: accuracy(guesses.blackBox),
    white_box: guesses.whiteBox ? accuracy(guesses.whiteBox) : null,
  };
}

export function attributeReport(model: string, attribute: SensitiveAttribute, attacked: AttributeScores, unseen: AttributeScores | null): AttributeReport {
  const best = Math.max(attacked.black_box, attacked.white_box ?? 0);
  const gain = best - attacked.baseline;
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const findings: Finding[] =
    gain < MEANINGFUL_GAIN
      ? []
      : [
          {
            rule: ATTRIBUTE_RULE,
            capability: "inference",
            severity: gain >= 0.15 ? "high" : "medium",
            title: `The model reveals the sensitive column ${attribute.columns.join("+")} (${pct(best)} recovered vs ${pct(attacked.baseline)} without the model)`,
            detail:
              `Knowing a record's other columns and its label, an attacker who queries the model recovers its sensitive column for ${pct(best)} of ${attacked.records} records (Fredrikson et al. 2014), ` +
              `against ${pct(attacked.baseline)} when guessing it from the same columns with the attacker's own data and no model (Jayaraman & Evans 2022).` +
              (unseen
                ? ` On ${unseen.records} records the model never saw the gain is ${pct(Math.max(unseen.black_box, unseen.white_box ?? 0) - unseen.baseline)}.`
                : ""),
            evidence: {
              gain,
              baseline: attacked.baseline,
              black_box: attacked.black_box,
              ...(attacked.white_box === null ? {} : { white_box: attacked.white_box }),
            },
            location: { file: model, section: "attribute" },
            references: references(["ML03", "AML.T0024.001", "privacy"]),
            recommendation:
              "Keep the sensitive column out of the model's inputs where the task allows, regularise (`aegis train --weight-decay`) or train with differential privacy so the model stops memorising records, and return labels rather than confidences; then run `aegis infer attribute` again.",
          },
        ];
  return { model, columns: attribute.columns, values: attribute.valueNames, attacked, unseen, findings };
}

export function attributeMarkdown(r: AttributeReport): string {
  const pct = (v: number | null) => (v === null ? "—" : `${(100 * v).toFixed(1)}%`);
  const row = (name: string, s: AttributeScores) => [name, s.records, pct(s.baseline), pct(s.black_box), pct(s.white_box)];
  return [
    "# Aegis attribute inference",
    "",
    `Model \`${r.model}\`; sensitive column ${r.columns.join(", ")} (values ${r.values.join(", ")}).`,
    "",
    ...findingsMarkdown(r.findings, `No attack recovered the column ${MEANINGFUL_GAIN * 100} points or more beyond the baseline.`),
    "## Accuracy",
    "",
    ...table(
      ["records", "count", "baseline (no model)", "black-box", "white-box"],
      [row("attacked", r.attacked), ...(r.unseen ? [row("unseen", r.unseen)] : [])],
      [1, 2, 3, 4],
    ),
    "",
  ].join("\n");
}
