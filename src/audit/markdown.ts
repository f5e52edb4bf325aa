/** The audit report as Markdown: for pull requests, wikis and CI job summaries (no images). */
import { cell, findingsMarkdown } from "../report/markdown.js";
import { backdoorMarkdown } from "./backdoor.js";
import { budgetText } from "./budget.js";
import { type ComparisonReport, type ComparisonRow, isComparison } from "./compare.js";
import { defenceAttackText, defenceText, ensembleText, medianMinNorm } from "./findings.js";
import { normName, runKey } from "./html.js";
import { privacyMarkdown } from "./privacy.js";
import type { AuditReport, DefenceRecord } from "./types.js";

const pct = (v: number | null) => (v === null ? "—" : `${(v * 100).toFixed(1)}%`);
const num = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "∞");

/** The audit report; a comparison report (`aegis audit --compare`) gets the side-by-side view. */
export function renderMarkdown(r: AuditReport): string {
  if (isComparison(r)) return renderComparisonMarkdown(r);
  const out: string[] = [
    "# Aegis robustness audit",
    "",
    `- model: \`${r.model.path}\`${r.model.summary ? ` (${r.model.summary.parameters.toLocaleString("en-US")} parameters, differentiable: ${r.model.summary.differentiable})` : ""}`,
    ...(r.model.defence ? [defenceLine(r.model.defence)] : []),
    `- data: ${r.data.name}, ${r.data.samples} samples`,
    `- clean accuracy: **${pct(r.clean_accuracy)}**`,
    `- policy: ${r.policy ? (r.policy.passed ? "**passed**" : "**FAILED**") : "none given"}`,
    `- duration: ${r.seconds.toFixed(1)} s${r.interrupted ? " (**interrupted**: the report covers the runs that finished)" : ""}`,
    ...(r.budget ? [`- ${r.budget.cut ? "**" : ""}${budgetText(r.budget)}${r.budget.cut ? "**" : ""}`] : []),
    "",
  ];
  if (r.warnings.length > 0) out.push("## Warnings", "", ...r.warnings.map((w) => `- ${w}`), "");
  if (r.policy) {
    out.push("## Policy verdict", "", "| result | rule | key | threshold | actual |", "| --- | --- | --- | ---: | ---: |");
    for (const x of r.policy.rules)
      out.push(
        `| ${x.passed ? "pass" : "**fail**"} | ${x.rule} | ${x.key ?? "—"} | ${cell(x.threshold)} | ${typeof x.actual === "number" ? num(x.actual) : cell(x.actual ?? "—")} |`,
      );
    out.push("");
  }
  out.push(...findingsMarkdown(r.findings, "No attack finished, so there are no findings."));
  out.push(
    "## Attack results",
    "",
    "| attack | kind | norm | ε | samples | robust accuracy | success rate | mean L∞ | mean L2 | queries (mean / max) | seconds |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const a of r.attacks) {
    if (a.runs.length === 0) {
      out.push(`| ${a.id} | ${a.status}: ${cell(a.reason ?? "")} | — | — | — | — | — | — | — | — | — |`);
      continue;
    }
    for (const p of a.runs) {
      const l2 =
        a.kind === "minimum-norm" ? `${num(p.perturbation.l2_mean)} (median ${num(medianMinNorm(a))} ${normName(a.norm)})` : num(p.perturbation.l2_mean);
      out.push(
        `| ${a.id} | ${a.kind} | ${normName(a.norm)} | ${p.eps ?? "—"} | ${p.samples} | ${pct(p.robust_accuracy)} | ${pct(p.success_rate)} | ${num(p.perturbation.linf_mean)} | ${l2} | ${p.queries ? `${Math.round(p.queries.mean)} / ${p.queries.max}` : "—"} | ${p.seconds.toFixed(1)} |`,
      );
    }
  }
  if (r.privacy) out.push("", ...privacyMarkdown(r.privacy));
  if (r.backdoor) out.push("", ...backdoorMarkdown(r.backdoor));
  const ensembles = r.attacks.flatMap((a) =>
    a.runs.flatMap((p) => (p.ensemble ? [`- ${runKey(a, p)} (${p.samples} samples): ${ensembleText(p.ensemble)}`] : [])),
  );
  if (ensembles.length > 0)
    out.push("", "## Ensemble breakdown", "", "Each attack of an ensemble runs only on the samples that all before it left unbroken.", "", ...ensembles);
  out.push(
    "",
    "## Per-class robust accuracy",
    "",
    `| run | ${r.data.class_names.map(cell).join(" | ")} |`,
    `| --- |${" ---: |".repeat(r.data.class_names.length)}`,
  );
  out.push(`| clean | ${r.per_class_clean.map(pct).join(" | ")} |`);
  for (const a of r.attacks) for (const p of a.runs) out.push(`| ${runKey(a, p)} | ${p.per_class.map(pct).join(" | ")} |`);
  out.push(
    "",
    "## Run",
    "",
    `- suite: ${r.config.source === "built-in" ? "built-in default" : `\`${r.config.source}\``}; seed ${r.config.seed}; batch size ${r.config.batch_size}`,
    `- environment: Node ${r.environment.node}, ${r.environment.platform}, ${r.environment.cpus} CPUs; started ${r.created}`,
    ...r.attacks.map((a) => `- ${a.id}: ${a.status} — ${a.paper}${Object.keys(a.params).length ? `; \`${JSON.stringify(a.params)}\`` : ""}`),
    "",
    "Robust accuracy counts samples the model already misclassified as failures (as ART and RobustBench); success rate is over the samples it classified correctly; perturbation sizes are over successful adversarial examples.",
    "",
  );
  return out.join("\n");
}

const signed = (d: number, text: string) => `${d > 0 ? "+" : d < 0 ? "−" : "±"}${text}`;

function deltaText(row: Pick<ComparisonRow, "metric" | "delta">): string {
  if (row.delta === null) return "—";
  return row.metric === "robust_accuracy"
    ? signed(row.delta, `${Math.abs(row.delta * 100).toFixed(1)} pts`)
    : signed(row.delta, Math.abs(row.delta).toFixed(3));
}

function valueText(v: number | "unbounded" | null, metric: ComparisonRow["metric"]): string {
  if (v === null) return "not run";
  if (v === "unbounded") return "unbounded";
  return metric === "robust_accuracy" ? pct(v) : num(v);
}

function defenceLine(d: DefenceRecord): string {
  return `- defence: ${defenceText(d)}, attacked ${d.adaptive ? "" : "**"}${defenceAttackText(d)}${d.adaptive ? "" : "**"}`;
}

/** " through squeeze:bits=1 (w.defence.json), attacked adaptively" after a compared model's file; "" without a defence. */
const throughDefence = (d: DefenceRecord | null) => (d ? ` through ${defenceText(d)}, attacked ${d.adaptive ? "adaptively" : "non-adaptively"}` : "");

function renderComparisonMarkdown(r: ComparisonReport): string {
  const c = r.comparison;
  const [a, b] = [c.baseline_label, c.candidate_label];
  const out: string[] = [
    `# Aegis robustness comparison: ${a} vs ${b}`,
    "",
    `**${c.verdict}**`,
    "",
    `- ${a}: \`${c.baseline.model.path}\`${throughDefence(c.baseline.model.defence)}`,
    `- ${b}: \`${r.model.path}\`${throughDefence(r.model.defence)}`,
    `- data: ${r.data.name}, ${r.data.samples} samples; the same suite, samples and seeds for both`,
    `- policy (judged on ${b}): ${r.policy ? (r.policy.passed ? "**passed**" : "**FAILED**") : "none given"}`,
    `- duration: ${r.seconds.toFixed(1)} s${r.interrupted ? " (**interrupted**: the report covers the runs that finished)" : ""}`,
    ...(r.budget ? [`- ${r.budget.cut ? "**" : ""}${budgetText(r.budget)}${r.budget.cut ? "**" : ""}`] : []),
    "",
  ];
  const warnings = [...c.baseline.warnings.map((w) => `${a}: ${w}`), ...r.warnings.map((w) => `${b}: ${w}`)];
  if (warnings.length > 0) out.push("## Warnings", "", ...warnings.map((w) => `- ${w}`), "");
  out.push(
    "## Side by side",
    "",
    `| attack | kind | norm | ε | samples | measure | ${cell(a)} | ${cell(b)} | Δ |`,
    "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    `| clean accuracy | — | — | — | ${r.data.samples} | accuracy | ${pct(c.clean_accuracy.baseline)} | ${pct(c.clean_accuracy.candidate)} | ${deltaText({ metric: "robust_accuracy", delta: c.clean_accuracy.delta })} |`,
  );
  for (const x of c.rows) {
    const measure = x.metric === "robust_accuracy" ? "robust accuracy" : `median ${normName(x.norm)} perturbation`;
    out.push(
      `| ${x.attack}${x.note ? ` (${cell(x.note)})` : ""} | ${x.kind} | ${normName(x.norm)} | ${x.eps ?? "—"} | ${x.samples} | ${measure} | ${valueText(x.baseline, x.metric)} | ${valueText(x.candidate, x.metric)} | ${deltaText(x)} |`,
    );
  }
  out.push("", `Δ is ${b} minus ${a}; for both measures, higher is more robust.`, "");
  if (r.policy) {
    out.push(`## Policy verdict (${b})`, "", "| result | rule | key | threshold | actual |", "| --- | --- | --- | ---: | ---: |");
    for (const x of r.policy.rules)
      out.push(
        `| ${x.passed ? "pass" : "**fail**"} | ${x.rule} | ${x.key ?? "—"} | ${cell(x.threshold)} | ${typeof x.actual === "number" ? num(x.actual) : cell(x.actual ?? "—")} |`,
      );
    out.push("");
  }
  for (const [label, report] of [
    [a, c.baseline],
    [b, r],
  ] as const) {
    out.push(`## Findings: ${label}`, "");
    if (report.findings.length === 0) out.push("No attack finished, so there are no findings.", "");
    for (const f of report.findings) out.push(`- **[${f.severity.toUpperCase()}]** ${f.title} (${f.references.map((t) => `[${t.id}](${t.url})`).join(", ")})`);
    out.push("");
  }
  out.push(
    "## Run",
    "",
    `- suite: ${r.config.source === "built-in" ? "built-in default" : `\`${r.config.source}\``}; seed ${r.config.seed}; batch size ${r.config.batch_size}`,
    `- ${a}: ${c.baseline.seconds.toFixed(1)} s; ${b}: ${(r.seconds - c.baseline.seconds).toFixed(1)} s`,
    `- environment: Node ${r.environment.node}, ${r.environment.platform}, ${r.environment.cpus} CPUs; finished ${r.created}`,
    "",
    "Robust accuracy counts samples the model already misclassified as failures (as ART and RobustBench); minimum-norm attacks are compared by the median size of the smallest perturbation they found (unbounded when they failed on most samples).",
    "",
  );
  return out.join("\n");
}
