/**
 * The extraction defence audit as tables: the copy's accuracy and fidelity per attack and
 * output mode at one budget, and the query at which each guard detector first raised its
 * alarm per attack, with its false alarms on a benign client — in Markdown and HTML,
 * rendered through report/ like every other Aegis report.
 */
import type { Finding } from "../report/finding.js";
import { cards, esc, findingsSection, page } from "../report/html.js";
import { findingsMarkdown, table } from "../report/markdown.js";
import type { ExtractionDefenceReport, StreamDetection } from "./extraction-defences.js";

const pct = (v: number | undefined) => (v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);

function stealingTable(report: ExtractionDefenceReport): { head: string[]; rows: string[][] } {
  return {
    head: ["attack", "API output", "queries", "accuracy", "fidelity"],
    rows: report.stealing.map((r) => [r.attack, r.output, String(r.queries), pct(r.accuracy), pct(r.fidelity)]),
  };
}

const alarmCell = (d: StreamDetection | undefined) => (d?.firstAlarm === undefined ? "no alarm" : `query ${d.firstAlarm}`);

function detectionTable(report: ExtractionDefenceReport): { head: string[]; rows: string[][] } {
  const cell = (detections: readonly StreamDetection[], name: string) => detections.find((d) => d.detector === name);
  return {
    head: ["client", "queries", ...report.detectors],
    rows: [
      ...report.detection.map((r) => [r.attack, String(r.queries), ...report.detectors.map((d) => alarmCell(cell(r.detections, d)))]),
      [
        "benign client (false alarms)",
        String(report.benign.queries),
        ...report.detectors.map((d) => {
          const v = cell(report.benign.detections, d);
          return v?.alarms ? `${v.alarms} (first at query ${v.firstAlarm})` : "0";
        }),
      ],
    ],
  };
}

export function renderExtractionDefencesMarkdown(report: ExtractionDefenceReport, findings: readonly Finding[], victim: string): string {
  const stealing = stealingTable(report);
  const detection = detectionTable(report);
  return [
    `# Extraction defences of ${victim}`,
    "",
    `Every attack spent at most ${report.budget} queries; the copies are judged on ${report.testSamples} test samples (the model's own accuracy: ${pct(report.victimAccuracy)}).`,
    "",
    "## What each output mode gives away",
    "",
    ...table(stealing.head, stealing.rows, [2, 3, 4]),
    "",
    "## When the guard's detectors notice",
    "",
    ...(report.detectors.length > 0
      ? [
          `Each attack's queries through ${report.detectedOn}, replayed in order as one client; the query at which each detector first alarms.`,
          "",
          ...table(detection.head, detection.rows, [1]),
        ]
      : ["No detector was configured."]),
    "",
    ...findingsMarkdown(findings, "No finding."),
  ].join("\n");
}

export function renderExtractionDefencesHtml(report: ExtractionDefenceReport, findings: readonly Finding[], victim: string): string {
  const htmlTable = ({ head, rows }: { head: string[]; rows: string[][] }) =>
    `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("")}</table>`;
  const lowest = report.stealing.reduce((a, b) => (b.fidelity < a.fidelity ? b : a), report.stealing[0]);
  const missed = report.detection.filter((r) => r.detections.every((d) => d.firstAlarm === undefined)).length;
  const falseAlarms = report.benign.detections.reduce((s, d) => s + d.alarms, 0);
  return page(`Extraction defences of ${victim}`, [
    `<h1>Extraction defences of ${esc(victim)}</h1>`,
    cards([
      ["budget", String(report.budget), "queries per attack"],
      ["lowest fidelity", pct(lowest?.fidelity), lowest ? `${lowest.attack} through ${lowest.output}` : ""],
      ["attacks unnoticed", `${missed} of ${report.detection.length}`, report.detectors.join(", ") || "no detector"],
      ["false alarms", String(falseAlarms), `on ${report.benign.queries} benign queries`],
    ]),
    `<section><h2>What each output mode gives away</h2>${htmlTable(stealingTable(report))}</section>`,
    report.detectors.length > 0 ? `<section><h2>When the guard's detectors notice</h2>${htmlTable(detectionTable(report))}</section>` : "",
    findingsSection(findings, "No finding."),
  ]);
}
