/**
 * Which defences stop model extraction, measured against the attacks themselves (issue 16's
 * audit): what a model owner needs to know is how much of the model each API answer gives
 * away, and whether the guard notices the thief before the copy is worth having.
 * - Stealing: each attack is run at the same query budget through each output mode the API
 *   could return (probabilities, top-k, labels only, rounding, reverse sigmoid: the
 *   postprocessors of `aegis defend`), and the copy is judged by accuracy and fidelity.
 * - Detection: the queries of each attack's run through the first output mode are replayed,
 *   in order, through the guard's per-client query-stream detectors (PRADA, stateful k-NN,
 *   the rate of out-of-distribution queries), with the victim's own top class as PRADA sees
 *   it in the guard (the detection hook reads the model's answer before any output
 *   postprocessor). The guard's detectors only observe, so the query at which each first
 *   raises its alarm is the query at which the guard would have; the test checks that
 *   against a running guard.
 * - False alarms: a benign client's natural queries, none of which the detectors were
 *   fitted on, go through the same detectors.
 */
import { type ExtractionAttack, type ExtractionInput, extractionSeverity, type ObservedOutput, runExtraction } from "../attacks/index.js";
import { type Detector, fitKnnOod, inputFeatures, layerFeatures, loadDetector, type Postprocessor } from "../defenses/index.js";
import { createFeatureExtractor, type Labels, type Predictor, probabilitiesOf, type RuntimeOptions } from "../engine/index.js";
import { argmaxRow } from "../engine/trainer.js";
import { AegisError } from "../errors.js";
import {
  calibrate,
  createOodRateDetector,
  createPradaDetector,
  createStatefulKnnDetector,
  type GuardConfig,
  type OodRateOptions,
  type PradaOptions,
  STATEFUL_KNN_MIN_CALIBRATION,
  type StatefulKnnOptions,
} from "../gateway/index.js";
import type { Model } from "../onnx/ir.js";
import type { Finding } from "../report/finding.js";
import { references } from "../report/taxonomy.js";
import { sliceRows, type Tensor } from "../tensor.js";

/** An attack as the audit runs it: a label for the report ("knockoff (adaptive)"), its parameters and data. */
export interface ExtractionAttackCase {
  label: string;
  attack: ExtractionAttack;
  params: Record<string, unknown>;
  input: ExtractionInput;
  /** Run through every output mode (true), or through the first only (its queries still go to the detectors). */
  everyOutput: boolean;
}

/** What the API returns: a name ("probabilities", "labels", "topk:k=3") and the postprocessors that make it. */
export interface OutputMode {
  name: string;
  postprocessors: readonly Postprocessor[];
}

/** The guard's query-stream detectors, configured as a guard route would be. */
export interface GuardDetectors {
  prada?: Partial<PradaOptions>;
  statefulKnn?: Partial<StatefulKnnOptions> & { threshold: number };
  /** A fitted out-of-distribution detector whose per-query flags a per-client CUSUM counts. */
  ood?: { detector: Detector; rate: Partial<OodRateOptions> & { p0: number } };
}

export type GuardDetectorName = "prada" | "stateful-knn" | "ood-rate";

/** One detector's verdict on one client's stream. */
export interface StreamDetection {
  detector: GuardDetectorName;
  /** The query (1-based) on which the detector first raised its alarm; absent when it never did. */
  firstAlarm?: number;
  /** Queries on which it raised an alarm. */
  alarms: number;
}

export interface StealingRow {
  attack: string;
  output: string;
  queries: number;
  /** What the attack saw of the answers. */
  observed: ObservedOutput;
  accuracy?: number;
  fidelity: number;
}

export interface DetectionRow {
  attack: string;
  queries: number;
  detections: StreamDetection[];
}

export interface ExtractionDefenceReport {
  budget: number;
  testSamples: number;
  victimAccuracy?: number;
  stealing: StealingRow[];
  /** The output mode whose queries the detectors saw. */
  detectedOn: string;
  detection: DetectionRow[];
  benign: { queries: number; detections: StreamDetection[] };
  detectors: GuardDetectorName[];
  seconds: number;
}

export interface ExtractionDefenceOptions {
  attacks: readonly ExtractionAttackCase[];
  /** The output modes compared; the first is the API the detectors watch. */
  outputs: readonly OutputMode[];
  budget: number;
  test: { x: Tensor<"float32">; labels?: Labels };
  detectors: GuardDetectors;
  /** A benign client's queries, in the order it sends them. */
  benign: Tensor<"float32">;
  seed?: number;
  signal?: AbortSignal;
  onStatus?: (message: string) => void;
  onQuery?: (run: string, spent: number, budget: number) => void;
}

/** The model as an API answers: its probabilities through the postprocessors, in the given input range. */
export function answeringThrough(model: Predictor, postprocessors: readonly Postprocessor[], clipRange = model.clipRange): Predictor {
  return {
    inputShape: model.inputShape,
    numClasses: model.numClasses,
    clipRange,
    outputKind: postprocessors.length > 0 ? "probs" : model.outputKind,
    predict: async (x) => {
      const out = await model.predict(x);
      return postprocessors.length > 0 ? postprocessors.reduce((scores, p) => p.apply(scores), probabilitiesOf(model, out)) : out;
    },
  };
}

export async function auditExtractionDefences(victim: Predictor, options: ExtractionDefenceOptions): Promise<ExtractionDefenceReport> {
  const started = performance.now();
  const [watched] = options.outputs;
  if (!watched) throw new Error("an extraction defence audit needs at least one output mode");
  const stealing: StealingRow[] = [];
  const detection: DetectionRow[] = [];
  let victimAccuracy: number | undefined;
  for (const c of options.attacks) {
    for (const [i, output] of options.outputs.entries()) {
      if (i > 0 && !c.everyOutput) break;
      const name = `${c.label} through ${output.name}`;
      options.onStatus?.(name);
      const run = await runExtraction(c.attack, answeringThrough(victim, output.postprocessors), c.input, c.params, {
        budget: options.budget,
        test: options.test,
        transfer: false,
        seed: options.seed,
        record: i === 0,
        signal: options.signal,
        onQuery: (spent, budget) => options.onQuery?.(name, spent, budget),
        onStatus: (message) => options.onStatus?.(`${name}: ${message}`),
      });
      await run.result.stolen.release();
      const r = run.report;
      victimAccuracy = r.victimAccuracy;
      stealing.push({ attack: c.label, output: output.name, queries: r.queries, observed: r.output, accuracy: r.accuracy, fidelity: r.fidelity });
      if (i === 0) {
        options.onStatus?.(`${c.label}: replaying ${r.queries} queries through the guard's detectors`);
        // Unprocessed answers already hold the model's own top class; otherwise ask the model again.
        const { x, answers } = run.oracle.records();
        const detections = await replayThroughDetectors(victim, x, options.detectors, output.postprocessors.length === 0 ? answers : undefined);
        detection.push({ attack: c.label, queries: r.queries, detections });
      }
    }
  }
  options.onStatus?.(`a benign client's ${options.benign.shape[0]} queries through the guard's detectors`);
  const benign = { queries: options.benign.shape[0], detections: await replayThroughDetectors(victim, options.benign, options.detectors) };
  return {
    budget: options.budget,
    testSamples: options.test.x.shape[0],
    victimAccuracy,
    stealing,
    detectedOn: watched.name,
    detection,
    benign,
    detectors: detectorNames(options.detectors),
    seconds: (performance.now() - started) / 1000,
  };
}

function detectorNames(detectors: GuardDetectors): GuardDetectorName[] {
  return [
    ...(detectors.prada ? ["prada" as const] : []),
    ...(detectors.statefulKnn ? ["stateful-knn" as const] : []),
    ...(detectors.ood ? ["ood-rate" as const] : []),
  ];
}

/**
 * The guard's detectors as a route would run them, fitted on the owner's data: PRADA with its
 * defaults; the stateful k-NN threshold calibrated for its default stream target on the
 * up to 4,000 rows the OOD bank holds (the tail model needs 1,000 or more); the k-NN
 * OOD detector — on the penultimate layer when the model's graph is given, else the raw
 * input, as for an upstream route — on up to 4,000 rows, its threshold on up to 1,000 others.
 * The rows left over were seen by no detector: a benign client can send them.
 */
export async function fitGuardDetectors(
  x: Tensor<"float32">,
  options: { model?: Model; runtime?: RuntimeOptions } = {},
): Promise<{ detectors: GuardDetectors; unseen: Tensor<"float32">; release(): Promise<void> }> {
  const n = x.shape[0];
  const fit = Math.min(4000, Math.floor(n / 2));
  const calibration = Math.min(1000, Math.floor(n / 8));
  if (fit < STATEFUL_KNN_MIN_CALIBRATION || calibration < 1)
    throw new AegisError("BAD_DATA", `the guard's detectors are fitted on at least ${2 * STATEFUL_KNN_MIN_CALIBRATION} samples of the owner's data; got ${n}`);
  const dim = x.data.length / n;
  const threshold = calibrate(Array.from({ length: fit }, (_, i) => x.data.slice(i * dim, (i + 1) * dim)));
  const extractor = options.model ? await createFeatureExtractor(options.model, options.runtime) : undefined;
  try {
    const ood = await fitKnnOod(extractor ? layerFeatures(extractor) : inputFeatures, sliceRows(x, 0, fit), {
      calibration: sliceRows(x, fit, fit + calibration),
    });
    return {
      detectors: { prada: {}, statefulKnn: { threshold }, ood: { detector: ood, rate: { p0: ood.fpr } } },
      unseen: sliceRows(x, fit + calibration, n),
      release: async () => extractor?.release(),
    };
  } catch (e) {
    await extractor?.release();
    throw e;
  }
}

/**
 * The query-stream detectors one route of a guard config runs (`routeName`, or the only
 * model or proxy route that has some), loaded as the guard loads them: the OOD detector from
 * its `aegis detect fit` file, checked against the model it was fitted on (`modelPath`, by
 * default the route's own), with p0 from the config or else the file's false-positive rate.
 */
export async function guardRouteDetectors(
  config: GuardConfig,
  options: { route?: string; modelPath?: string; runtime?: RuntimeOptions } = {},
): Promise<{ route: string; detectors: GuardDetectors; release(): Promise<void> }> {
  const watched = config.routes.filter((r) => (r.kind === "model" || r.kind === "proxy") && r.detectors);
  const route = options.route ? config.routes.find((r) => r.name === options.route) : watched.length === 1 ? watched[0] : undefined;
  if (!route) {
    throw new AegisError(
      "BAD_OPTION",
      options.route
        ? `${config.file} has no route "${options.route}"; its routes: ${config.routes.map((r) => r.name).join(", ")}`
        : `${config.file} has ${watched.length} routes with query-stream detectors (${watched.map((r) => r.name).join(", ") || "none"}); name one with --route`,
    );
  }
  const configured = route.kind === "model" || route.kind === "proxy" ? route.detectors : undefined;
  if (!configured?.prada && !configured?.statefulKnn && !configured?.ood)
    throw new AegisError("BAD_OPTION", `route "${route.name}" of ${config.file} runs no query-stream detector (prada, stateful-knn or ood)`);
  const detectors: GuardDetectors = { prada: configured.prada, statefulKnn: configured.statefulKnn };
  if (!configured.ood) return { route: route.name, detectors, release: async () => {} };
  const modelPath = options.modelPath ?? (route.kind === "model" ? route.model : undefined);
  if (!modelPath) throw new AegisError("BAD_OPTION", `route "${route.name}" proxies an upstream; give the model its OOD detector was fitted on with --model`);
  const { file, ...rate } = configured.ood;
  const loaded = await loadDetector(file, modelPath, options.runtime);
  const p0 = rate.p0 ?? loaded.file.fpr;
  if (p0 === null || p0 === undefined) {
    await loaded.release();
    throw new AegisError("BAD_OPTION", `${file} does not record the false-positive rate it was fitted at; set detectors.ood.p0 in ${config.file}`);
  }
  detectors.ood = { detector: loaded.detector, rate: { ...rate, p0 } };
  return { route: route.name, detectors, release: () => loaded.release() };
}

/** Rows per model call while replaying. */
const REPLAY_CHUNK = 256;

/**
 * One client's queries, in order, through fresh instances of the guard's detectors, as the
 * guard's detection hook feeds them: PRADA with the model's own top class, the stateful
 * k-NN detector with the raw query, the OOD-rate CUSUM with the OOD detector's flag.
 */
export async function replayThroughDetectors(
  model: Predictor,
  x: Tensor<"float32">,
  detectors: GuardDetectors,
  /** The model's answers to x, when already known: PRADA's classes come from them instead of new queries. */
  answers?: Tensor<"float32">,
): Promise<StreamDetection[]> {
  const n = x.shape[0];
  const dim = x.data.length / Math.max(n, 1);
  const prada = detectors.prada && createPradaDetector(detectors.prada);
  const knn = detectors.statefulKnn && createStatefulKnnDetector(detectors.statefulKnn);
  const ood = detectors.ood && { detector: detectors.ood.detector, rate: createOodRateDetector(detectors.ood.rate) };
  const verdicts = new Map<GuardDetectorName, StreamDetection>(detectorNames(detectors).map((d) => [d, { detector: d, alarms: 0 }]));
  const note = (name: GuardDetectorName, alarm: boolean, query: number) => {
    const v = verdicts.get(name);
    if (!v || !alarm) return;
    v.alarms++;
    v.firstAlarm ??= query;
  };
  for (let start = 0; start < n; start += REPLAY_CHUNK) {
    const chunk = sliceRows(x, start, Math.min(n, start + REPLAY_CHUNK));
    const scores = prada ? (answers ? sliceRows(answers, start, start + chunk.shape[0]) : await model.predict(chunk)) : undefined;
    const oodScores = ood ? await ood.detector.score(chunk) : undefined;
    for (let i = 0; i < chunk.shape[0]; i++) {
      const row = chunk.data.subarray(i * dim, (i + 1) * dim);
      const query = start + i + 1;
      if (prada && scores) note("prada", prada.observe(row, argmaxRow(scores, i)).alarm, query);
      if (knn) note("stateful-knn", knn.observe(row).alarm, query);
      if (ood && oodScores) note("ood-rate", ood.rate.observe(oodScores[i] >= ood.detector.threshold).alarm, query);
    }
  }
  return [...verdicts.values()];
}

const pct = (v: number | undefined) => (v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const ruleName = (label: string) =>
  label
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
const EXTRACTION_REFERENCES = ["AML.T0024.002", "AML.T0048.004", "ML05"];

/**
 * Per attack: what the strongest output mode measured still gives away (severity by the
 * copy's fidelity, as `aegis extract`), and whether any detector noticed it; per detector:
 * its false alarms on the benign client.
 */
export function extractionDefenceFindings(report: ExtractionDefenceReport, victim: string): Finding[] {
  const location = victim.startsWith("http") ? { route: victim } : { file: victim };
  const findings: Finding[] = [];
  for (const attack of new Set(report.stealing.map((r) => r.attack))) {
    const rows = report.stealing.filter((r) => r.attack === attack);
    const best = rows.reduce((a, b) => (b.fidelity < a.fidelity ? b : a));
    const measured =
      rows.length > 1 ? `the least of ${rows.length} output modes measured (${rows.map((r) => r.output).join(", ")})` : `the only output mode measured`;
    findings.push({
      rule: `AEGIS-EXTRACTION-OUTPUTS-${ruleName(attack)}`,
      capability: "extraction",
      severity: extractionSeverity(best.fidelity),
      title: `${attack} copies the model to ${pct(best.fidelity)} fidelity in ${best.queries} queries even through ${best.output}`,
      detail: `Through ${best.output}, ${measured}, a copy trained on ${best.queries} answers agrees with the model on ${pct(best.fidelity)} of ${report.testSamples} test samples, with ${pct(best.accuracy)} accuracy (the model: ${pct(report.victimAccuracy)}).`,
      evidence: { queries: best.queries, fidelity: best.fidelity, ...(best.accuracy === undefined ? {} : { accuracy: best.accuracy }) },
      location: { ...location, section: attack },
      references: references(EXTRACTION_REFERENCES),
      recommendation:
        "An output defence that leaves the top class stops no attacker who trains on labels; put the model behind `aegis guard` with query-stream detectors and incident rules, and cap each client's queries with rate limits.",
    });
  }
  if (report.detectors.length > 0) {
    for (const row of report.detection) {
      const caught = row.detections.filter((d) => d.firstAlarm !== undefined).sort((a, b) => (a.firstAlarm ?? 0) - (b.firstAlarm ?? 0));
      const first = caught[0];
      findings.push({
        rule: `AEGIS-EXTRACTION-UNDETECTED-${ruleName(row.attack)}`,
        capability: "extraction",
        severity: first ? "info" : "high",
        title: first
          ? `${row.attack} is noticed by ${first.detector} at query ${first.firstAlarm}`
          : `no guard detector notices ${row.attack} in ${row.queries} queries`,
        detail: `The ${row.queries} queries of ${row.attack} replayed through ${report.detectors.join(", ")}: ${row.detections.map((d) => `${d.detector} ${d.firstAlarm === undefined ? "no alarm" : `alarm at query ${d.firstAlarm}`}`).join("; ")}.`,
        evidence: Object.fromEntries(row.detections.map((d) => [`${d.detector}_first_alarm`, d.firstAlarm ?? -1])),
        location: { ...location, section: row.attack },
        references: references(EXTRACTION_REFERENCES),
        recommendation: first
          ? "Give the detector that notices it an incident rule (block or degrade) in the guard's config, so the alarm stops the copy from improving."
          : "Queries that look like ordinary traffic (natural in-distribution data) are not told apart from a client's own by any query-stream detector; cap each client's queries with rate limits and quotas, and fingerprint the model (`aegis fingerprint make`) to prove a copy later.",
      });
    }
    for (const d of report.benign.detections.filter((x) => x.alarms > 0)) {
      findings.push({
        rule: `AEGIS-EXTRACTION-FALSE-ALARM-${ruleName(d.detector)}`,
        capability: "extraction",
        severity: "medium",
        title: `${d.detector} raises ${d.alarms} false alarms on a benign client's ${report.benign.queries} queries`,
        detail: `A benign client's natural queries, none of which the detectors were fitted on, made ${d.detector} alarm first at query ${d.firstAlarm}.`,
        evidence: { alarms: d.alarms, first_alarm: d.firstAlarm ?? -1, queries: report.benign.queries },
        location: { ...location, section: d.detector },
        references: references(["ML05"]),
        recommendation: "Recalibrate the detector on more of the model's own traffic, or give its alarms an alert rule rather than block.",
      });
    }
  }
  return findings;
}
