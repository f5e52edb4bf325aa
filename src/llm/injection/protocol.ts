/**
 * The evaluation protocol of the prompt-injection detector: grouped leave-one-source-out
 * cross-validation (scikit-learn's LeaveOneGroupOut). Every source of the training rows is
 * held out in turn, a model is trained on all the others (with the generated sets of
 * synthetic.ts, which are never scored), and the held-out source is scored by it, so every
 * score comes from a model that never saw a row of that source — the situation of data from
 * a source no one here has seen (issue 22: a detector measured on its own distribution gave
 * false assurance). Model, features and threshold are chosen on these scores, never on rows
 * of the files the model trained on. The report gives recall per attack family and the
 * false-positive rate of the benign sets where over-defence shows: persona and role-play
 * prompts, documents with instructions, benign texts using injection trigger words, plain
 * harmful requests.
 */
import type { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { type RowScan, scanRows } from "../evaluate.js";
import type { Pipeline } from "../pipeline.js";
import { pipelineFromConfig, type ScannerConfig } from "../scanner-config.js";
import { DEFAULT_DOCUMENT_SCANNERS, DEFAULT_RESCAN } from "../scanners/index.js";
import { promptInjectionScanner } from "../scanners/prompt-injection.js";
import type { Scanner } from "../scanners/types.js";
import { type InjectionModel, injectionModelFrom } from "./classifier.js";
import { contextTrainingSet, trainContextClassifier } from "./context-model.js";
import { type CorpusRow, gatherFeatures, isDocumentSource, sourceGroup } from "./data.js";
import { featurizeAll } from "./features.js";
import { type BinaryMetrics, binaryMetrics, chooseThreshold } from "./metrics.js";
import { type InjectionTrainOptions, trainInjectionClassifier } from "./model.js";

/** Scores the held-out rows (indices into the row list) with the model trained without them. */
export type FoldScorer = (classifier: OnnxClassifier, heldOut: readonly number[]) => Promise<ArrayLike<number>>;

export interface CrossValidationOptions extends InjectionTrainOptions {
  /** Called after each fold with the held-out group. */
  onFold?: (done: number, total: number, group: string) => void;
}

/**
 * Out-of-fold scores of every row: one model per group of `groups` (default: the source,
 * sourceGroup), trained on the rows of the other groups, scoring the group's rows.
 * `features` are the rows' features [n, dim] (featurizeAll).
 */
export async function leaveOneSourceOut(
  rows: readonly CorpusRow[],
  features: Float32Array,
  scoreFold: FoldScorer,
  options: CrossValidationOptions = {},
  groups: readonly string[] = rows.map(sourceGroup),
): Promise<Float32Array> {
  const dim = features.length / rows.length;
  const byGroup = new Map<string, number[]>();
  groups.forEach((g, i) => {
    byGroup.set(g, [...(byGroup.get(g) ?? []), i]);
  });
  if (byGroup.size < 2) throw new AegisError("BAD_DATA", "leave-one-source-out needs rows from at least two sources");
  const scores = new Float32Array(rows.length);
  let done = 0;
  for (const [group, held] of [...byGroup].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (options.signal?.aborted) throw new AegisError("INTERRUPTED", `cross-validation interrupted after ${done} of ${byGroup.size} sources`);
    const heldSet = new Set(held);
    const inTrain = rows.map((_, i) => i).filter((i) => !heldSet.has(i));
    const trainLabels = new Set(inTrain.map((i) => rows[i].label));
    if (trainLabels.size < 2) throw new AegisError("BAD_DATA", `without ${group} the training rows have only one label; add sources of both labels`);
    const classifier = await trainInjectionClassifier(
      gatherFeatures(features, inTrain, dim),
      inTrain.map((i) => rows[i]),
      options,
    );
    try {
      const foldScores = await scoreFold(classifier, held);
      held.forEach((row, j) => {
        scores[row] = foldScores[j];
      });
    } finally {
      await classifier.release();
    }
    options.onFold?.(++done, byGroup.size, group);
  }
  return scores;
}

/** Benign prompts that open the way role-play jailbreaks do. */
const PERSONA_OPENER =
  /^\s*(?:(?:you are|you're|imagine (?:that )?you(?: are|'re)|imagine being|act as|act like|i want you to act|pretend (?:to be|you(?: are|'re))|play the (?:role|part)|take on the role|role-?play|let's (?:role-?play|play)|assume the (?:role|persona)|from now on,? you are)\b|as an? [^,.]{1,60},)/i;
/** Words injections use, in benign texts (InjecGuard's over-defence triggers and the ones issue 22 met). */
const TRIGGER_WORDS =
  /\b(?:ignore|ignoring|disregard|forget|pretend|uncensored|unfiltered|jailbreak|override|bypass|instructions?|system prompt|no (?:rules|restrictions|limits)|developer mode)\b/i;

export interface Slice {
  name: string;
  flagged: number;
  total: number;
}

export interface ProtocolReport {
  threshold: number;
  /** All rows; FPR over benign and harmful-request rows together. */
  overall: BinaryMetrics;
  /** Recall per attack family (kind of the label-1 rows). */
  families: Slice[];
  /** False-positive rates of the benign sets where over-defence shows. */
  overDefence: Slice[];
  /** Per source: recall (label 1) or false-positive rate (label 0). */
  sources: (Slice & { label: number })[];
}

function slice(name: string, rows: readonly CorpusRow[], flagged: readonly boolean[], keep: (row: CorpusRow) => boolean): Slice {
  let hits = 0;
  let total = 0;
  rows.forEach((row, i) => {
    if (!keep(row)) return;
    total++;
    if (flagged[i]) hits++;
  });
  return { name, flagged: hits, total };
}

export function isPersonaPrompt(text: string): boolean {
  return PERSONA_OPENER.test(text);
}

export function protocolReport(rows: readonly CorpusRow[], scores: ArrayLike<number>, threshold: number): ProtocolReport {
  const flagged = Array.from(rows, (_, i) => scores[i] >= threshold);
  const benign = (r: CorpusRow) => r.label === 0 && r.kind !== "harmful_request";
  const families = [...new Set(rows.filter((r) => r.label === 1).map((r) => r.kind))]
    .sort()
    .map((kind) => slice(kind, rows, flagged, (r) => r.label === 1 && r.kind === kind));
  const overDefence = [
    slice("benign (all)", rows, flagged, benign),
    slice("benign persona / role-play", rows, flagged, (r) => benign(r) && isPersonaPrompt(r.text)),
    slice("benign documents and tool outputs", rows, flagged, (r) => benign(r) && isDocumentSource(r)),
    slice("benign with trigger words", rows, flagged, (r) => benign(r) && TRIGGER_WORDS.test(r.text)),
    slice("harmful requests (not injections)", rows, flagged, (r) => r.kind === "harmful_request"),
  ];
  const sourceNames = [...new Set(rows.map((r) => `${sourceGroup(r)}\t${r.label}`))].sort();
  const sources = sourceNames.map((key) => {
    const [group, label] = key.split("\t");
    return { ...slice(group, rows, flagged, (r) => sourceGroup(r) === group && String(r.label) === label), label: Number(label) };
  });
  return {
    threshold,
    overall: binaryMetrics(
      scores,
      rows.map((r) => r.label),
      threshold,
    ),
    families,
    overDefence,
    sources,
  };
}

const pct = (s: Slice) => (s.total ? `${((100 * s.flagged) / s.total).toFixed(1)}%`.padStart(7) : "     —");

/**
 * The report as text: headline, families, over-defence sets and the per-source table.
 * `verdicts`: the scores were a pipeline's flags (0/1), so there is no threshold to print.
 */
export function formatProtocolReport(title: string, report: ProtocolReport, options: { sources?: boolean; verdicts?: boolean } = {}): string {
  const m = report.overall;
  const at = options.verdicts ? "" : ` at threshold ${report.threshold.toFixed(3)}`;
  const lines = [
    `${title}: F1 ${m.f1.toFixed(3)}, precision ${m.precision.toFixed(3)}, recall ${m.recall.toFixed(3)}, FPR ${(100 * m.fpr).toFixed(1)}%${at}`,
    "  recall per attack family:",
    ...report.families.map((s) => `    ${s.name.padEnd(36)}${pct(s)}  (${s.flagged}/${s.total})`),
    "  false positives (over-defence):",
    ...report.overDefence.map((s) => `    ${s.name.padEnd(36)}${pct(s)}  (${s.flagged}/${s.total})`),
  ];
  if (options.sources) {
    lines.push("  per held-out source (recall for attacks, false-positive rate for benign):");
    for (const s of report.sources) lines.push(`    ${s.label ? "attack" : "benign"} ${pct(s)}  (${s.flagged}/${s.total})  ${s.name}`);
  }
  return `${lines.join("\n")}\n`;
}

export interface PipelineProtocolOptions extends CrossValidationOptions {
  /** Scanner configuration (lists and options) of the input pipeline; the default pipeline when absent. */
  config?: ScannerConfig;
  /** Scanners to run, by name (default: the configuration's input list, else the default input scanners). */
  names?: readonly string[];
  /** Threshold of each fold's prompt-injection scanner (the shipped model's, usually). */
  threshold: number;
  /** Scanners of the rows read in context mode (`mode: "context"`); default: the guard's document scanners. */
  documents?: readonly string[];
  /** Threshold of each fold's context mode (the shipped model's, usually); default `threshold`. */
  contextThreshold?: number;
}

export interface PipelineProtocolResult {
  /** Scanner names of the input pipeline, in order. */
  names: string[];
  /** Scanner names of the document pipeline (rows read in context mode), in order; empty when no row is. */
  contextNames: string[];
  /** One scan per row, by the pipeline of its mode whose models never saw the row's source. */
  scans: RowScan[];
}

/**
 * Leave-one-source-out for the whole input pipeline: each fold's classifier replaces the
 * shipped one in the prompt-injection scanner and in encoded-payload's rescan, and the
 * held-out source is scanned by the full pipeline. Rows read in context mode (retrieved
 * documents and tool outputs, `mode: "context"`) are scanned by the document scanners
 * instead, whose context classifier is trained in the fold too, without the held-out source
 * (context-model.ts; its prompts-as-instructions are the other rows), as the guard scans
 * tool and retrieval messages.
 */
export async function crossValidatePipeline(rows: readonly CorpusRow[], options: PipelineProtocolOptions): Promise<PipelineProtocolResult> {
  const scans: RowScan[] = new Array(rows.length);
  const inContext = (i: number) => rows[i].mode === "context";
  const contextSet = rows.some((r) => r.mode === "context") ? contextTrainingSet(rows, { seed: options.seed, isDocument: inContext }) : undefined;
  const contextFeatures = contextSet && featurizeAll(contextSet.rows.map((r) => r.text));
  let names: string[] = [];
  let contextNames: string[] = [];
  await leaveOneSourceOut(
    rows,
    featurizeAll(rows.map((r) => r.text)),
    async (classifier, held) => {
      const documents = held.filter(inContext);
      const contextClassifier =
        contextSet && contextFeatures && documents.length
          ? await trainContextClassifier(contextSet, contextFeatures, held, {
              ...(options.seed === undefined ? {} : { seed: options.seed }),
              signal: options.signal,
            })
          : undefined;
      try {
        const model = injectionModelFrom(classifier, { threshold: options.threshold, contextThreshold: options.contextThreshold }, { contextClassifier });
        const config = withInjectionModel(options.config ?? {}, model);
        const pipeline = pipelineFromConfig("input", config, options.names);
        const documentPipeline = pipelineFromConfig("input", config, options.documents ?? DEFAULT_DOCUMENT_SCANNERS);
        names = pipeline.scanners.map((s) => s.name);
        const scanInto = async (scanner: Pipeline, idx: readonly number[]) => {
          const found = await scanRows(
            scanner,
            idx.map((i) => rows[i]),
            { signal: options.signal },
          );
          idx.forEach((row, j) => {
            scans[row] = found[j];
          });
        };
        await scanInto(
          pipeline,
          held.filter((i) => !inContext(i)),
        );
        if (documents.length) {
          contextNames = documentPipeline.scanners.map((s) => s.name);
          await scanInto(documentPipeline, documents);
        }
      } finally {
        await contextClassifier?.release();
      }
      return held.map((i) => (scans[i].valid ? 0 : 1));
    },
    options,
  );
  return { names, contextNames, scans };
}

/** The configuration with `model` in the prompt-injection and indirect-injection scanners and in encoded-payload's rescan. */
function withInjectionModel(config: ScannerConfig, model: InjectionModel): ScannerConfig {
  const options: Record<string, object> = { ...config.options };
  const own = options["prompt-injection"] ?? {};
  options["prompt-injection"] = { ...own, model };
  options["indirect-injection"] = { ...options["indirect-injection"], model };
  const encoded = (options["encoded-payload"] ?? {}) as { rescan?: readonly (string | Scanner)[] };
  const rescan = (encoded.rescan ?? DEFAULT_RESCAN).map((s) => (s === "prompt-injection" ? promptInjectionScanner({ ...own, model }) : s));
  options["encoded-payload"] = { ...encoded, rescan };
  return { ...config, options };
}

/**
 * Flags of scores whose threshold never saw the row's group: for each group, the best-F1
 * threshold within `maxFpr` on the other groups' rows (chooseThreshold), applied to the
 * group. The stricter reading of leave-one-source-out, where the held-out source takes no
 * part in tuning either; `thresholds` gives each group's.
 */
export function heldOutThresholdFlags(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  groups: readonly string[],
  maxFpr: number,
): { flags: Uint8Array; thresholds: Map<string, number> } {
  const flags = new Uint8Array(groups.length);
  const thresholds = new Map<string, number>();
  for (const group of new Set(groups)) {
    const others = groups.flatMap((g, i) => (g === group ? [] : [i]));
    const t = chooseThreshold(
      others.map((i) => scores[i]),
      others.map((i) => labels[i]),
      maxFpr,
    ).threshold;
    thresholds.set(group, t);
    groups.forEach((g, i) => {
      if (g === group && scores[i] >= t) flags[i] = 1;
    });
  }
  return { flags, thresholds };
}

export interface ModeReports {
  /** Document rows scored by prompt mode and by context mode, each at its best threshold within the FPR on those rows. */
  documents: { mode: "prompt" | "context"; report: ProtocolReport }[];
  /** Every row in the mode its origin calls for, thresholds chosen on all out-of-fold scores of the mode. */
  application: ProtocolReport & { promptThreshold: number; contextThreshold: number };
  /** The same, with each source's thresholds chosen without its rows. */
  strict: ProtocolReport;
}

/**
 * The corpus scanned as an application scans it (issue 22): it knows which texts are
 * retrieved documents and tool outputs, so rows of document sources (isDocumentSource, by
 * origin, never by label) are read in context mode and every other row in prompt mode, each
 * mode against a threshold of its own. `promptScores` and `contextScores` are out-of-fold
 * scores (contextScores needed for document rows only); `groups` the held-out units.
 */
export function modeReports(
  rows: readonly CorpusRow[],
  promptScores: ArrayLike<number>,
  contextScores: ArrayLike<number>,
  groups: readonly string[],
  maxFpr: number,
): ModeReports {
  const labels = rows.map((r) => r.label);
  const documents = rows.flatMap((r, i) => (isDocumentSource(r) ? [i] : []));
  const prompts = rows.flatMap((r, i) => (isDocumentSource(r) ? [] : [i]));
  const at = <T>(idx: readonly number[], values: ArrayLike<T>) => idx.map((i) => values[i]);
  const threshold = (idx: readonly number[], values: ArrayLike<number>) => chooseThreshold(at(idx, values), at(idx, labels), maxFpr).threshold;
  const documentReport = (values: ArrayLike<number>) => protocolReport(at(documents, rows), at(documents, values), threshold(documents, values));
  const mixed = Float32Array.from(rows, (r, i) => (isDocumentSource(r) ? contextScores[i] : promptScores[i]));
  const contextThreshold = threshold(documents, mixed);
  const promptThreshold = threshold(prompts, mixed);
  const pooled = Float32Array.from(rows, (r, i) => (mixed[i] >= (isDocumentSource(r) ? contextThreshold : promptThreshold) ? 1 : 0));
  const strict = new Float32Array(rows.length);
  for (const idx of [documents, prompts]) {
    const { flags } = heldOutThresholdFlags(at(idx, mixed), at(idx, labels), at(idx, groups), maxFpr);
    idx.forEach((row, j) => {
      strict[row] = flags[j];
    });
  }
  return {
    documents: [
      { mode: "prompt", report: documentReport(promptScores) },
      { mode: "context", report: documentReport(contextScores) },
    ],
    application: { ...protocolReport(rows, pooled, 0.5), promptThreshold, contextThreshold },
    strict: protocolReport(rows, strict, 0.5),
  };
}

export function formatModeReports(reports: ModeReports, options: { sources?: boolean } = {}): string {
  const a = reports.application;
  return [
    ...reports.documents.map(({ mode, report }) =>
      formatProtocolReport(`documents and tool outputs (${report.sources.reduce((n, s) => n + s.total, 0)} rows), ${mode} mode`, report, options),
    ),
    formatProtocolReport(
      `all rows, documents in context mode (≥ ${a.contextThreshold.toFixed(3)}), the rest in prompt mode (≥ ${a.promptThreshold.toFixed(3)})`,
      a,
      { verdicts: true },
    ),
    formatProtocolReport("all rows as above, each source's thresholds chosen without its rows", reports.strict, { ...options, verdicts: true }),
  ].join("");
}
