/**
 * The harness's table as findings and reports: accuracy per aggregator × attack, the
 * backdoor's success per aggregator, and which rules held. An aggregator "holds" against
 * an attack when its accuracy stays within 5 points of attack-free FedAvg (the issue's bar;
 * FedAvg without attackers is what the federation would reach if no client lied).
 */

import { lineChart, type Series } from "../../report/charts.js";
import type { Finding } from "../../report/finding.js";
import { esc, findingsSection, page } from "../../report/html.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { references } from "../../report/taxonomy.js";
import type { FlAttack } from "./malicious.js";
import type { Simulation, SimulationRun } from "./simulate.js";

/** Points of accuracy an aggregator may lose to an attack and still hold. */
export const HOLD_MARGIN = 0.05;
/** Backdoor success above which the trigger counts as planted. */
export const BACKDOOR_PLANTED = 0.5;

export interface SimulationSummary {
  aggregators: string[];
  attacks: FlAttack[];
  /** Final accuracy by aggregator, then attack. */
  accuracy: Record<string, Partial<Record<FlAttack, number>>>;
  backdoorSuccess: Record<string, Partial<Record<FlAttack, number>>>;
  /** Attack-free FedAvg's accuracy (the reference), when the table has it. */
  reference?: number;
  /** The aggregators that hold against each attack. */
  holding: Partial<Record<FlAttack, string[]>>;
  setting: { clients: number; malicious: number; perRound: number; byzantine: number; rounds: number; alpha: number; seed: number };
}

export function summarise(sim: Simulation, runs: readonly SimulationRun[]): SimulationSummary {
  const aggregators = [...new Set(runs.map((r) => r.aggregator))];
  const attacks = [...new Set(runs.map((r) => r.attack))];
  const accuracy: SimulationSummary["accuracy"] = {};
  const backdoorSuccess: SimulationSummary["backdoorSuccess"] = {};
  for (const r of runs) {
    accuracy[r.aggregator] = { ...accuracy[r.aggregator], [r.attack]: r.accuracy };
    backdoorSuccess[r.aggregator] = { ...backdoorSuccess[r.aggregator], [r.attack]: r.backdoorSuccess };
  }
  const reference = accuracy.fedavg?.none ?? (aggregators.length === 1 ? accuracy[aggregators[0]]?.none : undefined);
  const holding: SimulationSummary["holding"] = {};
  if (reference !== undefined) {
    for (const attack of attacks.filter((a) => a !== "none")) {
      holding[attack] = aggregators.filter(
        (g) => (accuracy[g][attack] ?? 0) >= reference - HOLD_MARGIN && !(attack === "backdoor" && (backdoorSuccess[g].backdoor ?? 0) > BACKDOOR_PLANTED),
      );
    }
  }
  const { clients, malicious, rounds, alpha, seed } = sim.options;
  return {
    aggregators,
    attacks,
    accuracy,
    backdoorSuccess,
    reference,
    holding,
    setting: { clients, malicious, perRound: sim.perRound, byzantine: sim.byzantine, rounds, alpha, seed },
  };
}

const POISONING = references(["AML.T0020", "AML.T0018.000", "ML10", "poisoning"]);
const BACKDOOR = references(["AML.T0043.004", "AML.T0018.000", "ML10", "poisoning"]);

export function simulationFindings(summary: SimulationSummary): Finding[] {
  const { reference, accuracy, backdoorSuccess, setting } = summary;
  if (reference === undefined) return [];
  const who = `${setting.malicious} of ${setting.clients} clients malicious, ${setting.perRound} per round, f = ${setting.byzantine}`;
  const findings: Finding[] = [];
  for (const aggregator of summary.aggregators) {
    const broken = summary.attacks.filter((a) => a !== "none" && (accuracy[aggregator][a] ?? 0) < reference - HOLD_MARGIN);
    if (broken.length > 0) {
      const worst = Math.min(...broken.map((a) => accuracy[aggregator][a] ?? 0));
      findings.push({
        rule: "FL-AGGREGATOR-BROKEN",
        capability: "federated",
        severity: reference - worst > 0.2 ? "high" : "medium",
        title: `${aggregator} ends more than ${HOLD_MARGIN * 100} points below attack-free FedAvg under ${broken.join(", ")}`,
        detail: `With ${who}, ${aggregator} ends at ${broken.map((a) => `${pct(accuracy[aggregator][a])} under ${a}`).join(", ")}, against ${pct(reference)} for FedAvg without attackers.`,
        evidence: Object.fromEntries([["reference_accuracy", reference], ...broken.map((a) => [`accuracy_${a}`, accuracy[aggregator][a] ?? 0])]),
        location: { section: aggregator },
        references: POISONING,
        recommendation: holdingAdvice(summary, broken),
      });
    }
    const backdoor = backdoorSuccess[aggregator].backdoor;
    if (backdoor !== undefined && backdoor > BACKDOOR_PLANTED) {
      findings.push({
        rule: "FL-BACKDOOR-ACCEPTED",
        capability: "federated",
        severity: "high",
        title: `${aggregator} lets a model-replacement backdoor in: ${pct(backdoor)} of triggered inputs go to the target class`,
        detail: `With ${who}, the attackers' boosted updates plant the trigger under ${aggregator} while accuracy on clean inputs stays at ${pct(accuracy[aggregator].backdoor)}; such a backdoor is invisible to accuracy monitoring.`,
        evidence: { backdoor_success: backdoor, accuracy: accuracy[aggregator].backdoor ?? 0 },
        location: { section: aggregator },
        references: BACKDOOR,
        recommendation:
          "Bound update norms (`--aggregator norm-bound`, Sun et al. 2019) or use a rule that discards outliers (`multi-krum`, `bulyan`), and test the trigger success after every change with `aegis fl simulate --attack backdoor`.",
      });
    }
  }
  return findings;
}

function holdingAdvice(summary: SimulationSummary, attacks: readonly FlAttack[]): string {
  const robust = summary.aggregators.filter((g) => attacks.every((a) => summary.holding[a]?.includes(g)));
  return robust.length > 0
    ? `In this table ${robust.map((g) => `\`--aggregator ${g}\``).join(", ")} held against ${attacks.join(", ")}; aggregate with it and re-run \`aegis fl simulate\` with your own client count and data split.`
    : `No aggregator in this table held against ${attacks.join(", ")}: try \`multi-krum\` or \`bulyan\` with f set to the attackers you must tolerate (\`--byzantine\`), more clients per round, or fewer local epochs.`;
}

const pct = (v: number | undefined): string => (v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);

/** Rows: aggregators; columns: attacks (accuracy), then the backdoor's success. */
export function summaryRows(summary: SimulationSummary): { head: string[]; rows: string[][] } {
  const hasBackdoor = summary.attacks.includes("backdoor");
  const head = ["aggregator", ...summary.attacks, ...(hasBackdoor ? ["backdoor success"] : [])];
  const rows = summary.aggregators.map((g) => [
    g,
    ...summary.attacks.map((a) => pct(summary.accuracy[g][a])),
    ...(hasBackdoor ? [pct(summary.backdoorSuccess[g].backdoor)] : []),
  ]);
  return { head, rows };
}

export function settingLine(summary: SimulationSummary): string {
  const s = summary.setting;
  return `${s.clients} clients (${s.malicious} malicious), ${s.perRound} per round, ${s.rounds} rounds, Dirichlet α ${s.alpha}, robust rules told f = ${s.byzantine}, seed ${s.seed}`;
}

export function simulationMarkdown(title: string, summary: SimulationSummary, findings: readonly Finding[]): string {
  const { head, rows } = summaryRows(summary);
  return [
    `# ${title}`,
    "",
    settingLine(summary),
    "",
    "Test accuracy after the last round, per aggregator (rows) and attack (columns):",
    "",
    ...table(head, rows, head.map((_, i) => i).slice(1)),
    "",
    ...(summary.reference === undefined
      ? []
      : [`Reference: FedAvg without attackers, ${pct(summary.reference)}. An aggregator holds when it stays within ${HOLD_MARGIN * 100} points.`, ""]),
    ...findingsMarkdown(findings, "Every aggregator held against every attack."),
    "",
  ].join("\n");
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

export function simulationHtml(title: string, summary: SimulationSummary, runs: readonly SimulationRun[], findings: readonly Finding[]): string {
  const { head, rows } = summaryRows(summary);
  const tableHtml = `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
  const charts = summary.attacks.map((attack) => {
    const series: Series[] = runs
      .filter((r) => r.attack === attack)
      .map((r, i) => ({ name: r.aggregator, color: COLORS[i % COLORS.length], points: r.rounds.map((m) => [m.round, m.accuracy] as const) }));
    return lineChart(series, "round", `test accuracy per round, attack: ${attack}`, { legend: true, yLabel: "test accuracy", xName: "round" });
  });
  return page(title, [
    `<h1>${esc(title)}</h1>`,
    `<p>${esc(settingLine(summary))}</p>`,
    `<h2>Accuracy after the last round</h2>${tableHtml}`,
    `<h2>Per round</h2>${charts.join("")}`,
    findingsSection(findings, "Every aggregator held against every attack."),
  ]);
}
