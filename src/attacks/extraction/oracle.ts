/**
 * The victim as an extraction attacker sees it: a Predictor (a local ONNX model, or a
 * deployed endpoint through HttpPredictor) behind a query budget. Every sample sent is
 * counted — the query count is what extraction papers report and what a paid API bills —
 * and a query that would overspend the budget is a bug in the attack, never sent. Answers
 * come back as rows that sum to 1, whatever the API shows: full probabilities, the top k
 * (the rest 0) or only the label (one-hot); the oracle tells which it has seen, since an
 * attack that needs every score (functionally equivalent extraction) cannot work from less.
 * Optionally every query and answer is kept, for the query log a report or a replay needs.
 */
import { type ModelInfo, type Predictor, probabilitiesOf } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";

/** What the API shows of its scores, as seen in its answers so far. */
export type ObservedOutput = "probabilities" | "top-k" | "labels";

export interface QueryLogEntry {
  /** Samples in this call. */
  queries: number;
  /** Samples spent so far, this call included. */
  total: number;
  /** Milliseconds since the oracle was created. */
  at: number;
}

export interface QueryOracleOptions {
  /** Most samples the attack may send. */
  budget: number;
  /** Keep every query and answer (see `records`). */
  record?: boolean;
  /** Checked before each call: an interrupted attack sends nothing more. */
  signal?: AbortSignal;
  /** Called after each call, e.g. for a progress bar. */
  onQuery?: (spent: number, budget: number) => void;
}

export class QueryOracle implements ModelInfo {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly clipRange: readonly [number, number];
  readonly outputKind = "probs" as const;
  readonly budget: number;
  readonly log: QueryLogEntry[] = [];

  private readonly victim: Predictor;
  private readonly options: QueryOracleOptions;
  private readonly started = performance.now();
  private used = 0;
  private readonly recorded: { x: Float32Array[]; answers: Float32Array[] } = { x: [], answers: [] };
  /** Largest number of non-zero scores in one answer, and whether every answer was one-hot. */
  private widest = 0;
  private allOneHot = true;

  constructor(victim: Predictor, options: QueryOracleOptions) {
    if (!Number.isInteger(options.budget) || options.budget < 1) {
      throw new AegisError("BAD_OPTION", `the query budget must be a positive whole number of samples, got ${options.budget}`);
    }
    this.victim = victim;
    this.options = options;
    this.budget = options.budget;
    this.inputShape = victim.inputShape;
    this.numClasses = victim.numClasses;
    this.clipRange = victim.clipRange;
  }

  get spent(): number {
    return this.used;
  }

  get remaining(): number {
    return this.budget - this.used;
  }

  /** Labels when every answer was one-hot, top-k when no answer had every class's score, probabilities otherwise. */
  get observed(): ObservedOutput {
    if (this.used === 0 || this.widest === this.numClasses) return "probabilities";
    return this.allOneHot ? "labels" : "top-k";
  }

  /** The victim's answers to `x`, each row summing to 1. */
  async query(x: Tensor<"float32">): Promise<Tensor<"float32">> {
    const n = x.shape[0];
    if (n > this.remaining) throw new Error(`an extraction attack asked for ${n} queries with ${this.remaining} of its budget left`);
    if (this.options.signal?.aborted) throw new AegisError("INTERRUPTED", "the extraction was interrupted; nothing was written");
    if (n === 0) return float32([0, this.numClasses]);
    const answers = normalisedRows(probabilitiesOf(this.victim, await this.victim.predict(x)));
    this.used += n;
    this.log.push({ queries: n, total: this.used, at: Math.round(performance.now() - this.started) });
    this.observe(answers);
    if (this.options.record) {
      this.recorded.x.push(Float32Array.from(x.data));
      this.recorded.answers.push(answers.data);
    }
    this.options.onQuery?.(this.used, this.budget);
    return answers;
  }

  /** Every query and answer so far, in order (empty unless created with `record`). */
  records(): { x: Tensor<"float32">; answers: Tensor<"float32"> } {
    const n = this.recorded.answers.reduce((s, a) => s + a.length / this.numClasses, 0);
    return { x: float32([n, ...this.inputShape], concat(this.recorded.x)), answers: float32([n, this.numClasses], concat(this.recorded.answers)) };
  }

  private observe(answers: Tensor<"float32">): void {
    const k = this.numClasses;
    for (let i = 0; i < answers.shape[0]; i++) {
      let nonZero = 0;
      for (let j = 0; j < k; j++) if (answers.data[i * k + j] > 0) nonZero++;
      this.widest = Math.max(this.widest, nonZero);
      if (nonZero !== 1) this.allOneHot = false;
    }
  }
}

/** Rows scaled to sum to 1 (top-k answers are not renormalised by the API); a row with nothing in it is the API's fault. */
function normalisedRows(scores: Tensor<"float32">): Tensor<"float32"> {
  const [n, k] = scores.shape;
  const out = new Float32Array(scores.data.length);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const v = scores.data[i * k + j];
      if (!(v >= 0) || !Number.isFinite(v))
        throw new AegisError("TARGET_ERROR", `the victim answered ${v} as a score of sample ${i}; scores must be finite and ≥ 0`);
      sum += v;
    }
    if (sum <= 0) throw new AegisError("TARGET_ERROR", `the victim answered all-zero scores for sample ${i}; an extraction needs at least the label`);
    for (let j = 0; j < k; j++) out[i * k + j] = scores.data[i * k + j] / sum;
  }
  return float32([n, k], out);
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
