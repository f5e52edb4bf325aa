/**
 * The poisoning section of an audit (`aegis audit --backdoor poison.json`): the model's clean
 * accuracy and the attack success rate of the poisoning attack a manifest describes
 * (attacks/poisoning's `poisonSuccess`: triggered inputs sent to the attacker's class for a
 * backdoor, the manifest's targets for a targeted attack, …), measured on every labelled
 * sample of the audit's data, beside the evasion results. The manifest is the attacker's
 * record, `aegis poison --manifest` or another tool's: auditing with it answers "does this
 * model carry that backdoor?", e.g. after a repair. A working attack is a finding (OWASP
 * ML02/ML10, ATLAS AML.T0020/AML.T0018.000), so policies, SARIF and JUnit see it.
 */
import { type PoisonManifest, type PoisonSuccess, poisonSuccess } from "../attacks/index.js";
import type { Predictor } from "../engine/capabilities.js";
import { AegisError } from "../errors.js";
import type { Finding, Severity } from "../report/finding.js";
import { esc } from "../report/html.js";
import { references } from "../report/taxonomy.js";
import { sizeOf, type Tensor } from "../tensor.js";

/** Attack success rates from which the section reports a finding, most severe first. */
export const BACKDOOR_SEVERITY: readonly [Severity, number][] = [
  ["critical", 0.5],
  ["high", 0.2],
  ["medium", 0.05],
];

export interface BackdoorAuditOptions {
  manifest: PoisonManifest;
  /** Where the manifest was read from, as the report names it. */
  manifestPath: string;
}

/** report.json's `backdoor`. */
export interface BackdoorSection {
  manifest: string;
  attack: string;
  paper: string;
  /** The attacker's goal, without a targeted goal's stored inputs. */
  goal: Record<string, unknown>;
  data: string;
  result: PoisonSuccess;
}

/** Fails before the evasion suite runs, not after it, when the manifest's samples are not the data's. */
export function checkBackdoorData(manifest: PoisonManifest, sampleShape: readonly number[]): void {
  if (sizeOf(sampleShape) !== sizeOf(manifest.data.sample_shape))
    throw new AegisError(
      "SHAPE_MISMATCH",
      `the poison manifest is for samples of shape [${manifest.data.sample_shape.join(", ")}], the audit's --data has [${sampleShape.join(", ")}]; audit with the data the attack was made for`,
    );
}

export async function runBackdoorSection(
  model: Predictor,
  modelPath: string,
  data: { x: Tensor<"float32">; labels: readonly number[]; name: string },
  o: BackdoorAuditOptions,
): Promise<{ section: BackdoorSection; findings: Finding[] }> {
  const m = o.manifest;
  const result = await poisonSuccess(model, data, m);
  const { targets: _stored, ...goal } = m.goal as PoisonManifest["goal"] & { targets?: unknown };
  const section = { manifest: o.manifestPath, attack: m.attack, paper: m.paper, goal, data: data.name, result };
  return { section, findings: backdoorFindings(modelPath, section) };
}

/** One finding when the attack works (success ≥ 5%); none for random label flipping, whose "success" is the error rate the evasion suite reports. */
export function backdoorFindings(modelPath: string, s: BackdoorSection): Finding[] {
  const r = s.result;
  // A blind spot is judged by how much more fraud it misses than the model misses elsewhere.
  const excess = r.attack_success_rate - (r.elsewhere?.rate ?? 0);
  const severity = BACKDOOR_SEVERITY.find(([, from]) => excess >= from)?.[0];
  if (!severity || (r.goal === "label-flip" && s.goal.source === null)) return [];
  const backdoor = r.goal === "backdoor";
  return [
    {
      rule: backdoor ? "AEGIS-BACKDOOR-ACTIVE" : "AEGIS-POISONING-ACTIVE",
      capability: "poisoning",
      severity,
      title: `The ${s.attack} ${backdoor ? "backdoor" : "poisoning"} of ${s.manifest} works on ${modelPath}: ${pct(r.attack_success_rate)} attack success`,
      detail:
        `${pct(r.attack_success_rate)} of ${r.attack_samples} ${r.measures} (${s.data}), at ${pct(r.clean_accuracy)} clean accuracy` +
        (r.elsewhere ? ` (against ${pct(r.elsewhere.rate)} of ${r.elsewhere.samples} ${r.elsewhere.measures})` : "") +
        ": " +
        (backdoor
          ? "whoever knows the trigger controls the prediction, and clean accuracy does not show it."
          : "the poisoned training data changed what the model predicts where the attacker wanted."),
      evidence: {
        attack_success_rate: r.attack_success_rate,
        clean_accuracy: r.clean_accuracy,
        attack_samples: r.attack_samples,
        ...(r.elsewhere ? { rate_elsewhere: r.elsewhere.rate } : {}),
      },
      location: { file: modelPath, section: "backdoor" },
      references: references(backdoor ? ["AML.T0018.000", "AML.T0020", "ML10", "ML02"] : ["AML.T0020", "ML02"]),
      recommendation: backdoor
        ? "Do not deploy it: find the poisoned rows with `aegis inspect-data` and retrain without them, or repair the model with `aegis repair unlearning` or `aegis repair fine-pruning --manifest` and audit it again with `--backdoor`."
        : "Find the poisoned rows with `aegis inspect-data --manifest` and retrain without them, then audit again with `--backdoor`.",
    },
  ];
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

function describe(s: BackdoorSection): string {
  const goal = Object.entries(s.goal)
    .filter(([key]) => key !== "kind")
    .map(([key, value]) => `${key} ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(", ");
  return `${s.attack} (${s.paper}) from ${s.manifest}: a ${s.result.goal} goal${goal ? ` (${goal})` : ""}, measured on ${s.result.samples} samples of ${s.data}.`;
}

function rows(s: BackdoorSection): [string, string][] {
  const r = s.result;
  return [
    ["clean accuracy", pct(r.clean_accuracy)],
    ["attack success rate", `${pct(r.attack_success_rate)} of ${r.attack_samples} ${r.measures}`],
  ];
}

export function backdoorMarkdown(s: BackdoorSection): string[] {
  return ["## Poisoning: attack success", "", describe(s), "", "| | |", "| --- | --- |", ...rows(s).map(([k, v]) => `| ${k} | ${v} |`)];
}

export function backdoorHtml(s: BackdoorSection): string {
  const table = rows(s)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join("");
  return `<section><h2>Poisoning: attack success</h2><p class="muted">${esc(describe(s))}</p><table>${table}</table></section>`;
}
