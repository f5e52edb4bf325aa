/**
 * The incident-response plan: for every high or critical threat, the signals Aegis emits
 * that would reveal the incident, how to contain it, how to recover, and what to review
 * afterwards. Playbooks are chosen by the attack family the threat cites (its ATLAS and
 * OWASP ids, then its STRIDE categories), so a threat from a rule added later still gets
 * a plan.
 */
import { byRisk, oneLine, targetLabel } from "./report/shared.js";
import type { Threat, ThreatModel } from "./types.js";

interface Playbook {
  family: string;
  matches(t: Threat): boolean;
  detection: string[];
  containment: string[];
  recovery: string[];
  review: string[];
}

const cites = (t: Threat, ids: string[]) =>
  [...t.atlas, ...t.owasp_ml, ...t.owasp_llm].some((id) => ids.some((want) => id === want || id.startsWith(`${want}.`)));

const PLAYBOOKS: Playbook[] = [
  {
    family: "prompt injection and jailbreak",
    matches: (t) => cites(t, ["AML.T0051", "AML.T0054", "LLM01", "LLM06"]),
    detection: [
      "Guard prompt-injection scanner decisions (blocked and flagged requests by scanner) on the guard's `/metrics` and in the dashboard's detector timeline.",
      "Guard incidents opened by the prompt-injection rule: `aegis incidents list`.",
      "Tool calls the agent made that a user did not ask for, in the guard's audit log (search by client key and route).",
      "A failing `aegis redteam` run against the endpoint in CI (new jailbreak or injection probes succeeding).",
    ],
    containment: [
      "Block or throttle the offending client key or IP in the guard (incident action `block`).",
      "Disable the tools or plugins the injected instructions reached, or require human approval for them (`human_in_the_loop`).",
      "Switch the prompt-injection scanner from flag to block for the affected route.",
    ],
    recovery: [
      "Revoke and rotate any credential or secret the model or its tools could read.",
      "Purge poisoned content from retrieved sources (vector store, web cache) that carried indirect instructions.",
      "Re-run `aegis redteam` until the probes that succeeded fail, then re-enable tools one by one.",
    ],
    review: ["Add the successful prompts to the red-team corpus as regression probes.", "Reconsider which tools the LLM may call without confirmation."],
  },
  {
    family: "sensitive information disclosure",
    matches: (t) => cites(t, ["AML.T0056", "AML.T0057", "LLM02", "LLM07"]),
    detection: [
      "Guard output scanner and PII-redaction decisions (redactions and blocked responses by scanner) on `/metrics`.",
      "Guard audit-log entries for responses the output filter flagged; `aegis audit-log verify` to prove the log is intact.",
      "System-prompt leakage probes failing in `aegis redteam`.",
    ],
    containment: [
      "Turn on output filtering and PII redaction in block mode for the route.",
      "Block the clients that extracted data; rotate any secret that was in the system prompt.",
    ],
    recovery: [
      "Move secrets out of the system prompt into the tools' server side.",
      "Notify data-protection owners when personal data left the system (regulated data).",
    ],
    review: ["Check which data the model can reach and whether it needs to.", "Add the leaking prompts to the red-team corpus."],
  },
  {
    family: "model extraction",
    matches: (t) => cites(t, ["AML.T0024.002", "ML05"]),
    detection: [
      "Guard extraction-detector alarms per client (PRADA distance test, query-similarity detector) in `/metrics`, the dashboard and `aegis incidents list`.",
      "Query volume per client key well above its usual rate (guard request metrics by key, rate-limit rejections).",
    ],
    containment: [
      "Block the client key or IP (incident action `block`) and throttle new keys.",
      "Degrade outputs on the route to labels only or rounded top-k (`output_rounding`, `output_labels_only`).",
    ],
    recovery: [
      "Assume the model is copied: re-assess what a copy enables (transfer evasion attacks) with `aegis audit`.",
      "Rotate API keys issued to the attacker's account.",
    ],
    review: ["Revisit output granularity and per-key quotas for the public API.", "Record the query pattern that tripped the detector."],
  },
  {
    family: "privacy inference (membership, inversion)",
    matches: (t) => cites(t, ["AML.T0024", "ML03", "ML04"]),
    detection: [
      "Guard query-similarity and extraction alarms (inference attacks also query heavily) and unusual per-client query volume.",
      "An `aegis audit` membership-inference result above the accepted advantage.",
    ],
    containment: ["Block the querying clients; return labels only on the route.", "Pause releases of the affected model."],
    recovery: ["Retrain with differential privacy (`dp_training`) and re-measure.", "Notify data-protection owners when training data held personal data."],
    review: ["Decide the privacy budget the model must meet.", "Check whether the training data needs to contain the exposed records."],
  },
  {
    family: "evasion",
    matches: (t) => cites(t, ["AML.T0043", "AML.T0015", "ML01"]) || t.nist_class === "evasion",
    detection: [
      "Guard adversarial-input detector alarms (feature squeezing, Mahalanobis) and query-similarity alarms for black-box attack streams.",
      "Robust accuracy below policy in `aegis audit --policy` (CI exits 10) or an `aegis attack` run.",
      "Prediction-confidence drift for the route in the guard's metrics.",
    ],
    containment: [
      "Block the clients whose queries tripped the detectors.",
      "Route low-confidence or flagged inputs to human review; enable input preprocessing defences.",
    ],
    recovery: [
      "Adversarially train the model (`aegis harden`), re-audit, and redeploy when robust accuracy meets policy.",
      "Reverse decisions the model made on the flagged inputs.",
    ],
    review: ["Add the observed adversarial inputs to the audit data.", "Tighten the audit policy thresholds (`min_robust_accuracy`)."],
  },
  {
    family: "poisoning",
    matches: (t) => cites(t, ["AML.T0020", "AML.T0070", "ML02", "ML10", "LLM04", "LLM08"]) || t.nist_class === "poisoning",
    detection: [
      "Clean accuracy or per-class accuracy dropping between audits (`aegis audit` report diff).",
      "Data-validation failures in the training pipeline; unexpected writes to the training data or vector store in the audit log.",
    ],
    containment: [
      "Freeze the training pipeline and the data ingestion that fed it.",
      "Roll the deployed model back to the last version audited before the suspect data arrived.",
    ],
    recovery: ["Remove the poisoned records (by provenance) and retrain; re-audit before release.", "Re-index the vector store from trusted sources."],
    review: ["Require provenance and validation for every data source.", "Add a poisoning check to CI."],
  },
  {
    family: "supply chain",
    matches: (t) => cites(t, ["AML.T0010", "AML.T0011", "ML06", "LLM03"]),
    detection: ["`aegis scan` findings on a model file (unsafe operators, pickles).", "`aegis verify` failing on a model's signature in CI or at load."],
    containment: ["Stop loading the artefact; pull it from the model registry.", "Isolate hosts that loaded it."],
    recovery: ["Restore the last signed, verified artefact (`aegis verify`).", "Rebuild from trusted sources and sign (`aegis sign`)."],
    review: ["Pin and sign every third-party model; scan on every update."],
  },
  {
    family: "denial of service and cost abuse",
    matches: (t) => cites(t, ["AML.T0029", "AML.T0034", "LLM10"]) || t.stride.includes("denial_of_service"),
    detection: ["Guard rate-limit rejections, latency histograms and upstream latency on `/metrics`.", "Token usage per key above budget (`token_budget`)."],
    containment: ["Throttle or block the heaviest keys; lower per-key token budgets.", "Scale the inference service or shed load on the route."],
    recovery: ["Restore normal limits once the source is blocked; review the bill for abuse."],
    review: ["Set rate limits and token budgets per key from observed peaks."],
  },
];

const GENERIC: Playbook = {
  family: "general",
  matches: () => true,
  detection: [
    "Guard authentication failures and blocked requests by control on `/metrics`.",
    "Guard audit-log entries for the affected component; `aegis audit-log verify` to prove the log was not altered.",
  ],
  containment: [
    "Block the clients or credentials involved; restrict access to the affected component.",
    "Enable authentication and encryption on the flows that lack them.",
  ],
  recovery: ["Rotate credentials; restore tampered data or artefacts from verified copies."],
  review: ["Add the missing control to `controls` once in place and re-run `aegis threat analyze`."],
};

export function renderIrPlan(model: ThreatModel): string {
  const serious = byRisk(model.threats).filter((t) => t.level === "high" || t.level === "critical");
  const out = [
    `# Incident-response plan: ${model.system.name}`,
    "",
    `Generated by \`aegis threat ir-plan\` on ${model.generated} from ${model.threats.length} threats; one playbook per high or critical risk (${serious.length}).${model.system.owner ? ` Owner: ${model.system.owner}.` : ""}`,
    "",
    "Each playbook follows detect → contain → recover → review. Detection signals are those Aegis emits: the guard's metrics, incidents and audit log, and the results of `aegis audit`, `aegis attack`, `aegis redteam` and `aegis scan`.",
    "",
  ];
  if (serious.length === 0) {
    out.push("No threat is rated high or critical, so no playbook is needed. Re-run this command after the system description changes.", "");
    return out.join("\n");
  }
  serious.forEach((t, i) => {
    const books = PLAYBOOKS.filter((p) => p.matches(t));
    const use = books.length > 0 ? books : [GENERIC];
    const merge = (key: "detection" | "containment" | "recovery" | "review") => [...new Set(use.flatMap((p) => p[key]))];
    out.push(
      `## ${i + 1}. ${oneLine(t.title)} — \`${t.id}\``,
      "",
      `Risk ${t.risk} (${t.level}) on ${targetLabel(t)} · playbook: ${use.map((p) => p.family).join(", ")} · ATLAS ${t.atlas.join(", ") || "—"} · status ${t.status}`,
      "",
      "### Detection signals",
      "",
      ...merge("detection").map((s) => `- ${s}`),
      "",
      "### Containment",
      "",
      ...merge("containment").map((s) => `- ${s}`),
      "",
      "### Recovery",
      "",
      ...merge("recovery").map((s) => `- ${s}`),
      ...t.mitigations.filter((m) => !t.mitigated_by.includes(m.control)).map((m) => `- Put the missing control in place: ${m.name} (\`${m.aegis}\`).`),
      "",
      "### Post-incident review",
      "",
      ...merge("review").map((s) => `- ${s}`),
      "- Write the timeline (first signal, containment, recovery) and the root cause; attach the guard incident record.",
      "- Re-run `aegis threat analyze` with the new evidence (`--evidence`) and confirm the threat's status.",
      "",
    );
  });
  return out.join("\n");
}
