/**
 * Stateful k-NN query detection — Chen, Carlini & Wagner, "Stateful Detection of Black-Box
 * Adversarial Attacks", ACM SPAI 2020 (arXiv 1907.05587). A query-based black-box attack
 * (Square, SimBA, HopSkipJump, NES, Boundary…) sends many queries close to each other, a
 * benign client does not. Per client, keep a buffer of past queries; for each new query
 * take the mean distance to its k nearest neighbours in the buffer and raise the alarm when
 * it falls below δ. δ is set on benign data: the paper takes the 0.1% quantile of each
 * benign sample's mean distance to its k nearest other benign samples, a per-query rate that
 * gives every benign client an alarm every 1,000 queries or so; here, by default, δ is set so
 * that a benign stream of 10,000 queries raises 0.1 alarms on average (see calibrate). After
 * an alarm the buffer is cleared, so a continuing attack is detected again (the paper counts
 * detections per attack). k = 50 from the paper and the authors' code; no verdict before the
 * buffer holds k queries.
 * Deviations: the paper encodes queries with a similarity encoder trained contrastively on
 * the data set (its δ = 1.44 on CIFAR-10 in that space; 5.069 on raw CIFAR-10 pixels); here
 * the distance is L2 on the raw input, or on whatever `encode` returns (e.g. a model's
 * penultimate features) — calibrate with the same encoder. The authors' code keeps every past
 * query; here the buffer keeps the last maxHistory (default 1000) so memory per client is
 * bounded (1000 × 784 floats ≈ 3 MB for MNIST), which lets an attacker who spreads its
 * queries over more than maxHistory others slip through. Calibration excludes each sample
 * itself from its neighbours (the authors' code counts the zero self-distance as one of k+1).
 * Calibration scores each benign sample against maxHistory others, as a full buffer would
 * (the authors' code uses the whole benign set). The state is plain JSON (queries as base64
 * float32) so it can live in Redis.
 */
import { AegisError } from "../../errors.js";
import { normalQuantile } from "../../normal.js";
import { squaredDistanceBelow } from "./distance.js";

export type QueryEncoder = (x: Float32Array) => Float32Array;

export interface StatefulKnnOptions {
  /** Alarm when the mean distance to the k nearest buffered queries is below it. */
  threshold: number;
  /** Neighbours averaged (paper: 50). */
  k: number;
  /** Past queries kept per client, oldest dropped first. */
  maxHistory: number;
  /** Maps a query to the space distances are taken in (default: the raw input). */
  encode?: QueryEncoder;
}

/**
 * k and maxHistory as the paper and its code; δ calibrated so that a benign stream of 10,000
 * queries raises 0.1 false alarms on average (a per-query rate of 10⁻⁵), instead of the
 * paper's 0.1% per query, which gives every benign client an alarm every 1,000 queries.
 */
export const STATEFUL_KNN_DEFAULTS = { k: 50, maxHistory: 1000, streamQueries: 10_000, streamFalseAlarms: 0.1 };

export interface CalibrateOptions {
  k?: number;
  /** The client buffer's size: each benign query is scored against maxHistory others. */
  maxHistory?: number;
  /** Queries in the benign client's stream the target is set for. */
  streamQueries?: number;
  /** False alarms allowed on average over such a stream. */
  streamFalseAlarms?: number;
  /** A per-query false-positive rate instead (the paper's setting: 0.001), taken as the empirical quantile. */
  fpr?: number;
  encode?: QueryEncoder;
}

export interface StatefulKnnObservation {
  alarm: boolean;
  /** Mean distance to the k nearest buffered queries, once the buffer holds k. */
  meanDistance?: number;
  /** Queries observed from this client, this one included. */
  queries: number;
  /** Alarms raised for this client so far, this one included. */
  detections: number;
}

export interface StatefulKnnState {
  version: 1;
  dim: number;
  queries: number;
  detections: number;
  /** Buffered (encoded) queries, oldest first, as base64 float32. */
  buffer: string;
}

export interface StatefulKnnDetector {
  readonly options: StatefulKnnOptions;
  observe(x: Float32Array): StatefulKnnObservation;
  state(): StatefulKnnState;
  restore(state: StatefulKnnState): void;
}

export function createStatefulKnnDetector(options: Partial<StatefulKnnOptions> & { threshold: number }): StatefulKnnDetector {
  const opts: StatefulKnnOptions = { k: STATEFUL_KNN_DEFAULTS.k, maxHistory: STATEFUL_KNN_DEFAULTS.maxHistory, ...options };
  if (!(Number.isFinite(opts.threshold) && opts.threshold > 0)) {
    throw new AegisError("BAD_OPTION", `The stateful detector's threshold must be a positive number (calibrate it on benign queries); got ${opts.threshold}.`);
  }
  checkK(opts.k);
  if (!Number.isInteger(opts.maxHistory) || opts.maxHistory < opts.k) {
    throw new AegisError("BAD_OPTION", `The stateful detector's maxHistory must be a whole number of at least k = ${opts.k}; got ${opts.maxHistory}.`);
  }

  let dim = 0;
  let queries = 0;
  let detections = 0;
  // Ring buffer of maxHistory rows.
  let rows = new Float32Array(0);
  let count = 0;
  let next = 0;
  const nearest = new Float64Array(opts.k);

  const clear = () => {
    count = 0;
    next = 0;
  };

  return {
    options: opts,
    observe(x) {
      const e = opts.encode ? opts.encode(x) : x;
      if (dim === 0) {
        dim = e.length;
        rows = new Float32Array(opts.maxHistory * dim);
      }
      if (e.length !== dim) {
        throw new AegisError(
          "SHAPE_MISMATCH",
          `The stateful detector got a query of ${e.length} values after queries of ${dim}; one detector serves one input shape.`,
        );
      }
      queries++;
      let meanDistance: number | undefined;
      if (count >= opts.k) meanDistance = meanNearest(rows, count, dim, e, opts.k, nearest);
      rows.set(e, next * dim);
      next = (next + 1) % opts.maxHistory;
      count = Math.min(count + 1, opts.maxHistory);
      const alarm = meanDistance !== undefined && meanDistance < opts.threshold;
      if (alarm) {
        detections++;
        clear();
      }
      return { alarm, meanDistance, queries, detections };
    },
    state() {
      const ordered = new Float32Array(count * dim);
      for (let i = 0; i < count; i++) {
        const row = (next - count + i + opts.maxHistory) % opts.maxHistory;
        ordered.set(rows.subarray(row * dim, (row + 1) * dim), i * dim);
      }
      return { version: 1, dim, queries, detections, buffer: Buffer.from(ordered.buffer).toString("base64") };
    },
    restore(state) {
      if (state?.version !== 1 || typeof state.buffer !== "string") {
        throw new AegisError("BAD_DATA", "This stateful-detector state was not written by this version of Aegis; drop it to start the client afresh.");
      }
      const bytes = Buffer.from(state.buffer, "base64");
      const data = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(data.buffer).set(bytes);
      const stored = state.dim > 0 ? data.length / state.dim : 0;
      if (!Number.isInteger(stored)) {
        throw new AegisError("BAD_DATA", `This stateful-detector state holds ${data.length} values, not a multiple of ${state.dim}; drop it.`);
      }
      dim = state.dim;
      queries = state.queries;
      detections = state.detections;
      rows = new Float32Array(opts.maxHistory * dim);
      const kept = Math.min(stored, opts.maxHistory);
      rows.set(data.subarray((stored - kept) * dim));
      count = kept;
      next = kept % opts.maxHistory;
    },
  };
}

/**
 * Each benign query's mean distance to its k nearest others in its group: what it would
 * score against a client's buffer holding the rest of the group. Groups are consecutive
 * runs of `group` rows (a full buffer plus the query: maxHistory + 1), so every score is
 * taken against as many neighbours as a full buffer holds; rows after the last whole group
 * are left out (fewer than a group: all rows are one group). Each sample is excluded from
 * its own neighbours.
 */
function benignScores(benignQueries: readonly Float32Array[], options: { k?: number; group?: number; encode?: QueryEncoder } = {}): Float64Array {
  const k = options.k ?? STATEFUL_KNN_DEFAULTS.k;
  checkK(k);
  const n = benignQueries.length;
  if (n < k + 1) throw new AegisError("BAD_DATA", `Calibrating with k = ${k} needs at least ${k + 1} benign queries; got ${n}.`);
  const group = Math.max(k + 1, options.group ?? n);
  const encoded = benignQueries.map((q) => (options.encode ? options.encode(q) : q));
  const dim = encoded[0].length;
  const all = new Float32Array(n * dim);
  encoded.forEach((q, i) => {
    if (q.length !== dim) throw new AegisError("SHAPE_MISMATCH", `Benign query ${i} has ${q.length} values, the first has ${dim}.`);
    all.set(q, i * dim);
  });
  const size = Math.min(group, n);
  const groups = Math.floor(n / size);
  const scores = new Float64Array(groups * size);
  for (let g = 0; g < groups; g++) scores.set(groupScores(all.subarray(g * size * dim, (g + 1) * size * dim), size, dim, k), g * size);
  return scores;
}

/** Leave-one-out mean k-NN distance of each of m rows among the others: each pair once, pushed into both rows' heaps of their k smallest squared distances (memory m·k, not m²). */
function groupScores(all: Float32Array, m: number, dim: number, k: number): Float64Array {
  const heaps = new Float64Array(m * k);
  const filled = new Int32Array(m);
  const push = (i: number, value: number) => {
    const heap = heaps.subarray(i * k, (i + 1) * k);
    if (filled[i] < k) {
      heap[filled[i]++] = value;
      if (filled[i] === k) heapify(heap, k);
    } else if (value < heap[0]) {
      heap[0] = value;
      siftDown(heap, k, 0);
    }
  };
  for (let i = 0; i < m; i++) {
    const query = all.subarray(i * dim, (i + 1) * dim);
    for (let j = i + 1; j < m; j++) {
      const sum = squaredDistanceBelow(all, j * dim, query, dim, Number.POSITIVE_INFINITY);
      push(i, sum);
      push(j, sum);
    }
  }
  const scores = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const heap = heaps.subarray(i * k, (i + 1) * k).sort();
    let total = 0;
    for (let t = 0; t < k; t++) total += Math.sqrt(heap[t]);
    scores[i] = total / k;
  }
  return scores;
}

/**
 * δ for a target false-alarm rate on benign clients.
 * - Per stream (default): an ordinary client's stream of `streamQueries` queries should raise
 *   at most `streamFalseAlarms` false alarms on average. The expected count is the sum of
 *   each query's chance of scoring below δ, whatever the dependence between queries, so a
 *   per-query rate p = streamFalseAlarms / streamQueries (10⁻⁵ at the defaults) meets it.
 *   This generalises Chen et al.'s per-query 0.1%, which over 5,000 queries promises 5
 *   alarms. Scores that rare lie beyond any calibration set, so δ comes from a tail model:
 *   an exponential tail fitted to the lowest 1% of the benign scores (at least 10), with its
 *   scale at the 90% upper confidence bound. MNIST's measured lower tail is bounded (its
 *   fitted generalised-Pareto shape is negative), so the exponential tail overstates the rare
 *   scores and δ errs low: fewer false alarms than targeted, not more.
 * - Per query (`fpr`, Chen et al.'s setting): the fpr-quantile of the benign scores.
 * Each benign query is scored against the others of its group of maxHistory + 1, as against
 * a client's full buffer; calibrate on at least maxHistory + 1 queries, on data like the
 * clients' own (a client whose inputs are denser than the calibration set scores lower).
 */
export function calibrate(benignQueries: readonly Float32Array[], options: CalibrateOptions = {}): number {
  const scores = benignScores(benignQueries, {
    k: options.k,
    group: (options.maxHistory ?? STATEFUL_KNN_DEFAULTS.maxHistory) + 1,
    encode: options.encode,
  }).sort();
  const n = scores.length;
  if (options.fpr !== undefined) {
    const fpr = options.fpr;
    if (!(fpr > 0 && fpr < 1)) throw new AegisError("BAD_OPTION", `The target false-positive rate must lie in (0, 1); got ${fpr}.`);
    const position = fpr * (n - 1);
    const low = Math.floor(position);
    const high = Math.min(n - 1, low + 1);
    return scores[low] + (scores[high] - scores[low]) * (position - low);
  }
  const queries = options.streamQueries ?? STATEFUL_KNN_DEFAULTS.streamQueries;
  const falseAlarms = options.streamFalseAlarms ?? STATEFUL_KNN_DEFAULTS.streamFalseAlarms;
  if (!(Number.isInteger(queries) && queries >= 1)) throw new AegisError("BAD_OPTION", `streamQueries must be a positive whole number; got ${queries}.`);
  if (!(falseAlarms > 0 && falseAlarms < queries)) {
    throw new AegisError("BAD_OPTION", `streamFalseAlarms must lie between 0 and streamQueries (${queries}); got ${falseAlarms}.`);
  }
  const rate = falseAlarms / queries;
  const tail = Math.floor(TAIL_SHARE * n);
  if (tail < MIN_TAIL) {
    throw new AegisError(
      "BAD_DATA",
      `Calibrating for a false-alarm rate per stream needs at least ${STATEFUL_KNN_MIN_CALIBRATION} benign queries (the lowest ${TAIL_SHARE * 100}% of their scores, at least ${MIN_TAIL}, fit the tail); got ${n}. Give more, or a per-query fpr.`,
    );
  }
  // Exceedances below u, the tail-th lowest score: exponential with mean σ; 2·tail·σ̂/σ is
  // χ² with 2·tail degrees of freedom (Wilson–Hilferty for its 10% quantile).
  const u = scores[tail];
  let excess = 0;
  for (let i = 0; i < tail; i++) excess += u - scores[i];
  const dof = 2 * tail;
  const chiSquareLow = dof * (1 - 2 / (9 * dof) + normalQuantile(1 - TAIL_CONFIDENCE) * Math.sqrt(2 / (9 * dof))) ** 3;
  const scale = (2 * excess) / chiSquareLow;
  const threshold = u - scale * Math.log(tail / n / rate);
  if (!(threshold > 0)) {
    throw new AegisError(
      "BAD_DATA",
      `The benign scores' lower tail is too wide to reach ${rate.toExponential(1)} false alarms per query (the model puts δ at ${threshold.toFixed(3)}); allow more false alarms per stream, a shorter stream, or calibrate on more benign queries.`,
    );
  }
  return threshold;
}

/** Share of the lowest benign scores the tail model is fitted to, the fewest it accepts, and the confidence of its scale. */
const TAIL_SHARE = 0.01;
const MIN_TAIL = 10;
/** The fewest benign queries the stream target's tail model accepts. */
export const STATEFUL_KNN_MIN_CALIBRATION = Math.ceil(MIN_TAIL / TAIL_SHARE);
const TAIL_CONFIDENCE = 0.9;

function checkK(k: number) {
  if (!Number.isInteger(k) || k < 1) throw new AegisError("BAD_OPTION", `k must be a positive whole number; got ${k}.`);
}

/** Mean of the k smallest L2 distances from x to the first `count` rows. */
function meanNearest(rows: Float32Array, count: number, dim: number, x: Float32Array, k: number, nearest: Float64Array): number {
  // `nearest` holds the k smallest squared distances so far, largest first at index 0 after
  // filling; a row is abandoned once its partial sum passes the current k-th smallest.
  let filled = 0;
  let worst = Number.POSITIVE_INFINITY;
  for (let r = 0; r < count; r++) {
    const sum = squaredDistanceBelow(rows, r * dim, x, dim, worst);
    if (filled < k) {
      nearest[filled++] = sum;
      if (filled === k) worst = heapify(nearest, k);
    } else if (sum < worst) {
      nearest[0] = sum;
      worst = siftDown(nearest, k, 0);
    }
  }
  // Summed in ascending order, so the result does not depend on where rows sit in the ring
  // (a restored buffer gives bit-identical verdicts).
  nearest.sort();
  let total = 0;
  for (let i = 0; i < k; i++) total += Math.sqrt(nearest[i]);
  return total / k;
}

/** Makes heap[0..size) a max-heap; returns its maximum. */
function heapify(heap: Float64Array, size: number): number {
  for (let i = (size >> 1) - 1; i >= 0; i--) siftDown(heap, size, i);
  return heap[0];
}

function siftDown(heap: Float64Array, size: number, start: number): number {
  let i = start;
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let largest = i;
    if (left < size && heap[left] > heap[largest]) largest = left;
    if (right < size && heap[right] > heap[largest]) largest = right;
    if (largest === i) break;
    const tmp = heap[i];
    heap[i] = heap[largest];
    heap[largest] = tmp;
    i = largest;
  }
  return heap[0];
}
