/**
 * Stateful k-NN query detection — Chen, Carlini & Wagner, "Stateful Detection of Black-Box
 * Adversarial Attacks", ACM SPAI 2020 (arXiv 1907.05587). A query-based black-box attack
 * (Square, SimBA, HopSkipJump, NES, Boundary…) sends many queries close to each other, a
 * benign client does not. Per client, keep a buffer of past queries; for each new query
 * take the mean distance to its k nearest neighbours in the buffer and raise the alarm when
 * it falls below δ. δ is set on benign data at a target false-positive rate: the fpr-quantile
 * of each benign sample's mean distance to its k nearest other benign samples. After an
 * alarm the buffer is cleared, so a continuing attack is detected again (the paper counts
 * detections per attack). Defaults from the paper and the authors' code: k = 50, fpr 0.1%;
 * no verdict before the buffer holds k queries.
 * Deviations: the paper encodes queries with a similarity encoder trained contrastively on
 * the data set (its δ = 1.44 on CIFAR-10 in that space; 5.069 on raw CIFAR-10 pixels); here
 * the distance is L2 on the raw input, or on whatever `encode` returns (e.g. a model's
 * penultimate features) — calibrate with the same encoder. The authors' code keeps every past
 * query; here the buffer keeps the last maxHistory (default 1000) so memory per client is
 * bounded (1000 × 784 floats ≈ 3 MB for MNIST), which lets an attacker who spreads its
 * queries over more than maxHistory others slip through. Calibration excludes each sample
 * itself from its neighbours (the authors' code counts the zero self-distance as one of k+1).
 * The state is plain JSON (queries as base64 float32) so it can live in Redis.
 */
import { AegisError } from "../../errors.js";
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

export const STATEFUL_KNN_DEFAULTS = { k: 50, maxHistory: 1000, fpr: 0.001 };

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

export interface CalibrateOptions {
  k?: number;
  /** Target false-positive rate on benign queries (paper: 0.1%). */
  fpr?: number;
  encode?: QueryEncoder;
}

/**
 * δ for a target false-positive rate: the fpr-quantile (linear interpolation) of each benign
 * query's mean distance to its k nearest other benign queries. Calibrate on at least as many
 * queries as maxHistory: a client's buffer is then no denser than the calibration set, so its
 * benign distances are no smaller and the rate holds.
 */
export function calibrate(benignQueries: readonly Float32Array[], options: CalibrateOptions = {}): number {
  const k = options.k ?? STATEFUL_KNN_DEFAULTS.k;
  const fpr = options.fpr ?? STATEFUL_KNN_DEFAULTS.fpr;
  checkK(k);
  if (!(fpr > 0 && fpr < 1)) throw new AegisError("BAD_OPTION", `The target false-positive rate must lie in (0, 1); got ${fpr}.`);
  const n = benignQueries.length;
  if (n < k + 1) throw new AegisError("BAD_DATA", `Calibrating with k = ${k} needs at least ${k + 1} benign queries; got ${n}.`);
  const encoded = benignQueries.map((q) => (options.encode ? options.encode(q) : q));
  const dim = encoded[0].length;
  const all = new Float32Array(n * dim);
  encoded.forEach((q, i) => {
    if (q.length !== dim) throw new AegisError("SHAPE_MISMATCH", `Benign query ${i} has ${q.length} values, the first has ${dim}.`);
    all.set(q, i * dim);
  });
  // Each pair once, pushed into both samples' heaps of their k smallest squared distances
  // (memory n·k, not n²).
  const heaps = new Float64Array(n * k);
  const filled = new Int32Array(n);
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
  for (let i = 0; i < n; i++) {
    const oi = i * dim;
    const query = all.subarray(oi, oi + dim);
    for (let j = i + 1; j < n; j++) {
      const sum = squaredDistanceBelow(all, j * dim, query, dim, Number.POSITIVE_INFINITY);
      push(i, sum);
      push(j, sum);
    }
  }
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let t = i * k; t < (i + 1) * k; t++) total += Math.sqrt(heaps[t]);
    scores[i] = total / k;
  }
  scores.sort();
  const position = fpr * (n - 1);
  const low = Math.floor(position);
  const high = Math.min(n - 1, low + 1);
  return scores[low] + (scores[high] - scores[low]) * (position - low);
}

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
