/**
 * One extraction run and what it is judged by, as the extraction papers report it:
 * - accuracy of the stolen model on labelled test data, next to the victim's own;
 * - fidelity, the share of test samples on which the stolen model agrees with the victim
 *   (Jagielski et al. 2020's "fidelity", Orekondy et al.'s agreement);
 * - the transfer rate: adversarial examples crafted white-box on the stolen model (FGSM at
 *   L∞ ε = 0.3, Papernot et al. 2017's transfer setting), replayed on the victim, counted
 *   over the test samples the victim gets right — why an attacker steals a model at all;
 * - the curve of accuracy and fidelity against queries spent, from the stolen models the
 *   attack hands over at its checkpoints.
 * Queries the evaluation sends to the victim (its answers on the test data and on the
 * transferred examples) are not part of the attack's budget; they are counted apart.
 */
import { createRng } from "../../data/random.js";
import type { Classifier, Labels, Predictor } from "../../engine/index.js";
import { argmaxRow, countCorrect } from "../../engine/trainer.js";
import { gatherRows, type Tensor } from "../../tensor.js";
import { fgsm } from "../evasion/fgsm.js";
import { type ObservedOutput, type QueryLogEntry, QueryOracle } from "./oracle.js";
import type { ExtractionAttack, ExtractionInput, ExtractionResult } from "./types.js";

export interface CurvePoint {
  queries: number;
  /** On the test labels, when given. */
  accuracy?: number;
  fidelity: number;
}

export interface TransferResult {
  attack: "fgsm";
  eps: number;
  /** Test samples the victim classified correctly, on which examples were crafted. */
  samples: number;
  /** Share of them the victim misclassifies once perturbed on the stolen model. */
  rate: number;
}

export interface ExtractionReport {
  attack: string;
  title: string;
  paper: string;
  params: Record<string, unknown>;
  budget: number;
  queries: number;
  /** What the victim's API showed of its scores. */
  output: ObservedOutput;
  testSamples: number;
  victimAccuracy?: number;
  accuracy?: number;
  fidelity: number;
  transfer?: TransferResult;
  curve: CurvePoint[];
  /** Victim queries spent on evaluation, outside the budget. */
  evaluationQueries: number;
  seconds: number;
  notes: string[];
}

export interface RunExtractionOptions {
  budget: number;
  /** Test data the stolen model is judged on; labels give accuracy. */
  test: { x: Tensor<"float32">; labels?: Labels };
  /** Query counts at which to measure the stolen model (the curve); the final model is always measured. */
  checkpoints?: readonly number[];
  /** The transfer measurement (default FGSM ε 0.3 on 500 samples); false to skip it. */
  transfer?: { eps: number; samples: number } | false;
  seed?: number;
  /** Keep every query and answer (QueryOracle.records). */
  record?: boolean;
  signal?: AbortSignal;
  onQuery?: (spent: number, budget: number) => void;
  onStatus?: (message: string) => void;
}

export interface ExtractionRun {
  report: ExtractionReport;
  result: ExtractionResult;
  /** The victim's answers as the attack saw them: the query log, and the queries themselves when recorded. */
  oracle: QueryOracle;
  log: readonly QueryLogEntry[];
}

export const TRANSFER_DEFAULTS = { eps: 0.3, samples: 500 };

export async function runExtraction(
  attack: ExtractionAttack,
  victim: Predictor,
  input: ExtractionInput,
  params: Record<string, unknown>,
  options: RunExtractionOptions,
): Promise<ExtractionRun> {
  const started = performance.now();
  const test = options.test;
  const victimOnTest = await victim.predict(test.x);
  const victimLabels = Array.from({ length: test.x.shape[0] }, (_, i) => argmaxRow(victimOnTest, i));
  let evaluationQueries = test.x.shape[0];
  const oracle = new QueryOracle(victim, { budget: options.budget, record: options.record, signal: options.signal, onQuery: options.onQuery });
  const curve: CurvePoint[] = [];
  const measure = async (queries: number, stolen: Classifier) => {
    const out = await stolen.predict(test.x);
    const point: CurvePoint = { queries, fidelity: countCorrect(out, victimLabels) / victimLabels.length };
    if (test.labels) point.accuracy = countCorrect(out, test.labels) / test.labels.length;
    curve.push(point);
    options.onStatus?.(
      `${queries} queries: fidelity ${(point.fidelity * 100).toFixed(2)}%${point.accuracy === undefined ? "" : `, accuracy ${(point.accuracy * 100).toFixed(2)}%`}`,
    );
  };
  const result = await attack.run(oracle, input, params, {
    rng: createRng(options.seed ?? 0),
    signal: options.signal,
    checkpoints: options.checkpoints,
    onCheckpoint: measure,
    onStatus: options.onStatus,
  });
  if (curve.at(-1)?.queries !== result.queries) await measure(result.queries, result.stolen);
  const final = curve.at(-1) as CurvePoint;

  let transfer: TransferResult | undefined;
  const settings = options.transfer === undefined ? TRANSFER_DEFAULTS : options.transfer;
  if (settings) {
    const truth = test.labels ?? victimLabels;
    const rows = truth
      .map((_, i) => i)
      .filter((i) => victimLabels[i] === truth[i])
      .slice(0, settings.samples);
    if (rows.length > 0) {
      options.onStatus?.(`crafting ${rows.length} adversarial examples on the stolen model`);
      const x = gatherRows(test.x, rows);
      const y = rows.map((i) => truth[i]);
      const adversarial = await fgsm.run(result.stolen, x, y, { ...fgsm.defaults, eps: settings.eps }, { rng: createRng(0) });
      const replayed = await victim.predict(adversarial.x);
      evaluationQueries += rows.length;
      const fooled = y.filter((label, i) => argmaxRow(replayed, i) !== label).length;
      transfer = { attack: "fgsm", eps: settings.eps, samples: rows.length, rate: fooled / rows.length };
    }
  }
  return {
    report: {
      attack: attack.name,
      title: attack.title,
      paper: attack.paper,
      params,
      budget: options.budget,
      queries: result.queries,
      output: oracle.observed,
      testSamples: test.x.shape[0],
      victimAccuracy: test.labels ? countCorrect(victimOnTest, test.labels) / test.labels.length : undefined,
      accuracy: final.accuracy,
      fidelity: final.fidelity,
      transfer,
      curve,
      evaluationQueries,
      seconds: (performance.now() - started) / 1000,
      notes: result.notes,
    },
    result,
    oracle,
    log: oracle.log,
  };
}
