/**
 * The round report of `aegis fl server`: after every round, what it did (clients sampled,
 * answered and dropped, retried attempts, examples, time) and, when the server has
 * validation data, the global model's accuracy and loss on it, written atomically as
 * `fl-rounds.json` and `fl-rounds.html` (plots, the round table and findings, through the
 * report shell). The JSON is the record a restarted server continues: its rounds are kept
 * where the checkpoint's history has the same round and attempt, and a round the report
 * missed (a crash between checkpoint and report) is listed without validation numbers.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { countCorrect, OnnxClassifier } from "../../engine/index.js";
import { writeFileAtomic } from "../../fs.js";
import type { Model } from "../../onnx/ir.js";
import { lineChart } from "../../report/charts.js";
import type { Finding } from "../../report/finding.js";
import { cards, esc, findingsSection, page } from "../../report/html.js";
import { references } from "../../report/taxonomy.js";
import type { ClientData } from "./client.js";
import type { RoundRecord } from "./network/server.js";
import { writeParameters } from "./parameters.js";

export interface RoundEntry {
  round: number;
  attempt: string;
  sampled: string[];
  answered: string[];
  /** Sampled but not counted: missed the deadline or left. */
  dropped: string[];
  /** Earlier attempts at this round that closed with too few answers and were tried again. */
  retries: number;
  examples: number;
  seconds: number;
  /** When the round closed (ISO 8601). */
  finished: string;
  /** The global model after the round, on the server's validation data. */
  validation?: { accuracy: number; loss: number };
  /** Under DP-FedAvg, ε per client spent by the rounds so far (at the setting's δ). */
  epsilon?: number;
}

export interface FederationSetting {
  aggregator: string;
  byzantine: number;
  secureAggregation: boolean;
  rounds: number;
  clientsPerRound: number;
  minClients: number;
  deadlineSeconds: number;
  clients: number;
  /** The server's validation data, when configured. */
  validation?: { name: string; rows: number };
  /** DP-FedAvg's setting, when configured. */
  dp?: { clip: number; noiseMultiplier: number; delta: number };
}

export interface RoundLog {
  setting: FederationSetting;
  /** The initial model on the validation data, before round 1. */
  initial?: { accuracy: number; loss: number };
  rounds: RoundEntry[];
}

export const ROUND_REPORT_FILES = { json: "fl-rounds.json", html: "fl-rounds.html" } as const;

/** Accuracy this far below the best earlier round is flagged: the federation went backwards. */
export const VALIDATION_DROP = 0.05;

/** The global model on held-out rows the server keeps; no client sees them. */
export class ServerValidation {
  private constructor(
    private readonly classifier: OnnxClassifier,
    readonly data: ClientData,
  ) {}

  static async create(model: Model, data: ClientData): Promise<ServerValidation> {
    return new ServerValidation(await OnnxClassifier.create(model, { trainable: true }), data);
  }

  async evaluate(parameters: Float32Array): Promise<{ accuracy: number; loss: number }> {
    writeParameters(this.classifier, parameters);
    const { labels, x } = this.data;
    const result = await this.classifier.evaluate(x, this.classifier.oneHot(labels), { loss: "ce" });
    return { accuracy: countCorrect(result.output, labels) / labels.length, loss: result.total / labels.length };
  }

  release(): Promise<void> {
    return this.classifier.release();
  }
}

export class RoundReport {
  private readonly retries = new Map<number, number>();
  private pending: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly log: RoundLog,
    private readonly validation: ServerValidation | undefined,
  ) {}

  /** Continues the report in `dir` for a server whose checkpoint holds `history`. */
  static open(dir: string, setting: FederationSetting, history: readonly RoundRecord[], validation?: ServerValidation): RoundReport {
    const earlier = readLog(join(dir, ROUND_REPORT_FILES.json));
    const rounds = history.map((record) => {
      const kept = earlier.rounds?.find((e) => e.round === record.round && e.attempt === record.attempt);
      return kept ?? entryOf(record, 0, undefined);
    });
    return new RoundReport(dir, { setting, initial: earlier.initial, rounds }, validation);
  }

  get rounds(): readonly RoundEntry[] {
    return this.log.rounds;
  }

  /** Records the initial model's validation numbers (the charts' round 0). */
  setInitial(measured: { accuracy: number; loss: number }): void {
    this.log.initial = measured;
  }

  /** An attempt at `round` closed with too few answers; the round's entry will count it. */
  retried(round: number): void {
    this.retries.set(round, (this.retries.get(round) ?? 0) + 1);
  }

  /** Records a completed round; `parameters` is the global model after it. Writes in order. */
  add(record: RoundRecord, parameters: Float32Array): Promise<void> {
    const snapshot = Float32Array.from(parameters);
    const written = this.pending.then(async () => {
      const validation = this.validation ? await this.validation.evaluate(snapshot) : undefined;
      this.log.rounds.push(entryOf(record, this.retries.get(record.round) ?? 0, validation));
      this.write();
    });
    // A failed write (disk full) is the caller's to report; the next round still writes.
    this.pending = written.catch(() => undefined);
    return written;
  }

  /** Waits for every round handed to `add` to be written. */
  flush(): Promise<void> {
    return this.pending;
  }

  write(): void {
    writeFileAtomic(join(this.dir, ROUND_REPORT_FILES.json), `${JSON.stringify(this.log, null, 2)}\n`);
    writeFileAtomic(join(this.dir, ROUND_REPORT_FILES.html), roundsHtml(this.log));
  }
}

function entryOf(record: RoundRecord, retries: number, validation: RoundEntry["validation"]): RoundEntry {
  return {
    round: record.round,
    attempt: record.attempt,
    sampled: record.sampled,
    answered: record.clients,
    dropped: record.sampled.filter((c) => !record.clients.includes(c)),
    retries,
    examples: record.examples,
    seconds: record.seconds,
    finished: new Date().toISOString(),
    ...(validation ? { validation } : {}),
    ...(record.epsilon === undefined ? {} : { epsilon: record.epsilon }),
  };
}

function readLog(path: string): Partial<RoundLog> {
  try {
    const log = JSON.parse(readFileSync(path, "utf8")) as Partial<RoundLog>;
    return Array.isArray(log.rounds) ? log : {};
  } catch {
    // No report yet, or one cut short before this version wrote atomically: start afresh.
    return {};
  }
}

const PRIVACY = references(["AML.T0024.001", "ML03", "privacy"]);
const POISONING = references(["AML.T0020", "ML10", "poisoning"]);

export function roundFindings(log: RoundLog): Finding[] {
  const findings: Finding[] = [];
  const { setting, rounds } = log;
  if (!setting.secureAggregation && rounds.length > 0) {
    findings.push({
      rule: "FL-SERVER-SEES-UPDATES",
      capability: "federated",
      severity: "medium",
      title: "The server receives every client's update in the clear",
      detail: `Without secure aggregation the server (or anyone who takes it over) holds each client's update for ${rounds.length} round${rounds.length === 1 ? "" : "s"}; gradient inversion can reconstruct training records from single updates, more easily from clients with few examples.`,
      evidence: { rounds: rounds.length, secure_aggregation: 0 },
      location: { section: "federation" },
      references: PRIVACY,
      recommendation:
        "Add `secureAggregation: { clip: 1 }` to fl.yaml (Bonawitz et al. 2017; FedAvg only): the server then learns only the sum of the updates.",
    });
  }
  const measured = rounds.filter((r) => r.validation);
  const last = measured.at(-1);
  if (last?.validation && measured.length > 1) {
    const best = measured.slice(0, -1).reduce((a, b) => ((b.validation?.accuracy ?? 0) > (a.validation?.accuracy ?? 0) ? b : a));
    const bestAccuracy = best.validation?.accuracy ?? 0;
    if (last.validation.accuracy < bestAccuracy - VALIDATION_DROP) {
      findings.push({
        rule: "FL-VALIDATION-DROP",
        capability: "federated",
        severity: "high",
        title: `The global model fell from ${pct(bestAccuracy)} (round ${best.round}) to ${pct(last.validation.accuracy)} (round ${last.round}) on the server's validation data`,
        detail: `A drop of more than ${VALIDATION_DROP * 100} points after round ${best.round} means some updates pulled the model away from the task: poisoned or faulty clients, or local training that diverges on non-IID data.`,
        evidence: { best_accuracy: bestAccuracy, best_round: best.round, last_accuracy: last.validation.accuracy, last_round: last.round },
        location: { section: `round ${last.round}` },
        references: POISONING,
        recommendation:
          "Keep the checkpoint of the best round, look for clients that joined or changed when the drop began, and aggregate with a robust rule (`aggregator: multi-krum` with `byzantine: f` in fl.yaml); measure the rules on your split first with `aegis fl simulate --malicious K`.",
      });
    }
  }
  return findings;
}

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

export function roundsHtml(log: RoundLog): string {
  const { setting, rounds } = log;
  const title = "Aegis federated training: rounds";
  const last = rounds.at(-1);
  const measured = rounds.filter((r) => r.validation);
  const dropped = rounds.reduce((sum, r) => sum + r.dropped.length, 0);
  const summary = cards([
    ["rounds", `${rounds.length} / ${setting.rounds}`, last ? `last closed ${last.finished}` : "none closed yet"],
    ["aggregator", setting.aggregator, setting.byzantine > 0 ? `tolerating f = ${setting.byzantine}` : "no byzantine tolerance"],
    [
      "secure aggregation",
      setting.secureAggregation ? "on" : "off",
      setting.secureAggregation ? "the server sees only the sum" : "the server sees each update",
    ],
    [
      "validation accuracy",
      last?.validation ? pct(last.validation.accuracy) : "—",
      setting.validation ? `${setting.validation.rows} rows of ${setting.validation.name}` : "no validation data configured",
    ],
    ["dropped", String(dropped), `sampled clients not counted, over ${rounds.length} rounds`],
    ...(setting.dp
      ? [
          [
            "client-level DP",
            last?.epsilon === undefined ? "—" : `ε ${last.epsilon.toFixed(2)}`,
            `per client so far, δ ${setting.dp.delta}; clip ${setting.dp.clip}, noise multiplier ${setting.dp.noiseMultiplier.toFixed(3)}`,
          ] as [string, string, string],
        ]
      : []),
  ]);
  const charts: string[] = [];
  if (measured.length > 0) {
    const start = log.initial ? [[0, log.initial.accuracy] as const] : [];
    const points = [...start, ...measured.map((r) => [r.round, r.validation?.accuracy ?? 0] as const)];
    charts.push(
      lineChart([{ name: "validation accuracy", color: "#1f77b4", points }], "round", "the global model's accuracy on the server's validation data", {
        yLabel: "accuracy",
        xName: "round",
      }),
    );
  }
  if (rounds.length > 0) {
    const answered = rounds.map((r) => [r.round, r.answered.length / Math.max(1, r.sampled.length)] as const);
    charts.push(
      lineChart(
        [{ name: "answered / sampled", color: "#2ca02c", points: answered, marker: "square" }],
        "round",
        "share of the sampled clients counted per round",
        {
          yLabel: "answered",
          xName: "round",
        },
      ),
    );
  }
  const head = [
    "round",
    "sampled",
    "answered",
    "dropped",
    "retries",
    "examples",
    "seconds",
    "val. accuracy",
    "val. loss",
    ...(setting.dp ? ["ε"] : []),
    "closed",
  ];
  const initial = log.initial
    ? `<tr data-round="0"><td>0</td><td colspan="6">the initial model</td><td>${esc(pct(log.initial.accuracy))}</td><td>${esc(log.initial.loss.toFixed(4))}</td>${setting.dp ? "<td>0</td>" : ""}<td>—</td></tr>`
    : "";
  const body = rounds
    .map((r) => {
      const cells = [
        String(r.round),
        String(r.sampled.length),
        r.answered.join(", "),
        r.dropped.join(", ") || "—",
        String(r.retries),
        String(r.examples),
        r.seconds.toFixed(1),
        r.validation ? pct(r.validation.accuracy) : "—",
        r.validation ? r.validation.loss.toFixed(4) : "—",
        ...(setting.dp ? [r.epsilon === undefined ? "—" : r.epsilon.toFixed(2)] : []),
        r.finished,
      ];
      return `<tr data-round="${r.round}">${cells.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`;
    })
    .join("");
  const setup = `${setting.clients} clients, ${setting.clientsPerRound} sampled per round, at least ${setting.minClients} counted, deadline ${setting.deadlineSeconds} s`;
  return page(title, [
    `<h1>${esc(title)}</h1>`,
    `<p>${esc(setup)}. Written after every round.</p>`,
    summary,
    charts.length > 0 ? `<h2>Per round</h2>${charts.join("")}` : "",
    `<h2>Rounds</h2><table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${initial}${body}</tbody></table>`,
    findingsSection(roundFindings(log), "No finding: secure aggregation is on and the validation accuracy has not fallen."),
  ]);
}
