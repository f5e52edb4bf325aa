/**
 * PRADA — Juuti, Szyller, Marchal & Asokan, "PRADA: Protecting against DNN Model Stealing
 * Attacks", IEEE EuroS&P 2019 (Algorithm 1). Per client, and per predicted class c, a growing
 * set G_c of past queries: each new query x of class c gets d_min, its smallest L2 distance to
 * G_c, which joins the client's distance set D; x itself joins G_c only when d_min exceeds the
 * class threshold T_c, and then T_c ← max(T_c, mean − std of the distances that admitted G_c's
 * members). Benign queries (natural samples) give d_min values that fit a normal
 * distribution; extraction queries (synthetic samples crafted around a few seeds, or
 * points spread on purpose) do not. Once |D| > 100 the 3σ outliers are dropped and the
 * Shapiro–Wilk statistic W of the rest is computed; W < δ raises the alarm.
 * Details from the authors' released code (Aalto SSG, Apache-2.0, read, not copied): a
 * class's first query seeds G_c with the distance 0 in its admission list and T_c = 0; std is
 * the population deviation. That code also tests only every tenth query and leaves out the
 * distances of classes with fewer than 10; this file tests every query on all of D, as
 * Algorithm 1 is written.
 * Defaults: minQueries 100 (the paper's |D| > 100); δ = 0.95 — the paper sets δ per model
 * from benign traffic; on the bundled MNIST CNN benign clients stay above W = 0.97 and the
 * extraction streams fall below 0.85 (bench/extraction-detection.ts).
 * Deviations: an exact repeat of an admitted query (d_min = 0: a retry) does not join D —
 * it carries no information for an extractor, and zeros in D alarm on benign clients that
 * retry. For a gateway's memory and time bounds: G (all classes together) holds at
 * most maxHistory queries (5000 × 784 floats is 15.7 MB per client, 21 MB as base64 state) —
 * beyond it the sets stop growing, new queries are still measured against them and their
 * d_min still tested, so detection continues but compares against the first maxHistory
 * admitted points; D is a sliding window of the last 5000 distances (the Shapiro–Wilk
 * approximation's limit). The state is plain JSON (queries as base64 float32) so it can live
 * in Redis.
 */
import { AegisError } from "../../errors.js";
import { squaredDistanceBelow } from "./distance.js";
import { SHAPIRO_WILK_MAX_N, shapiroWilkSorted } from "./shapiro-wilk.js";

export interface PradaOptions {
  /** Alarm when the Shapiro–Wilk W of the client's distances falls below δ. */
  delta: number;
  /** Distances collected before the test starts (paper: |D| > 100). */
  minQueries: number;
  /** Queries kept in the growing sets of one client, all classes together. */
  maxHistory: number;
}

export const PRADA_DEFAULTS: PradaOptions = { delta: 0.95, minQueries: 100, maxHistory: 5000 };

export interface PradaObservation {
  /** W < δ for the distances seen so far (re-evaluated on every query). */
  alarm: boolean;
  /** The Shapiro–Wilk W once enough distances are collected. */
  w?: number;
  /** This query's distance to its class's growing set (absent for a class's first query). */
  dMin?: number;
  /** Queries observed from this client, this one included. */
  queries: number;
}

/** One client's detector state, JSON-serialisable. */
export interface PradaState {
  version: 1;
  dim: number;
  queries: number;
  /** The distance set D (the last 5000 d_min values). */
  distances: number[];
  classes: { cls: number; threshold: number; admitted: number[]; vectors: string }[];
}

export interface PradaDetector {
  readonly options: PradaOptions;
  observe(x: Float32Array, predictedClass: number): PradaObservation;
  state(): PradaState;
  restore(state: PradaState): void;
}

interface GrowingSet {
  /** Admitted queries, row after row; capacity grows by doubling. */
  data: Float32Array;
  size: number;
  threshold: number;
  /** d_min of each admitted query (0 for the first), whose mean − std is T_c. */
  admitted: number[];
}

export function createPradaDetector(options: Partial<PradaOptions> = {}): PradaDetector {
  const opts = { ...PRADA_DEFAULTS, ...options };
  if (!(opts.delta > 0 && opts.delta < 1)) throw new AegisError("BAD_OPTION", `PRADA's delta must lie in (0, 1); got ${opts.delta}.`);
  if (!Number.isInteger(opts.minQueries) || opts.minQueries < 3 || opts.minQueries > SHAPIRO_WILK_MAX_N) {
    throw new AegisError("BAD_OPTION", `PRADA's minQueries must be a whole number from 3 to ${SHAPIRO_WILK_MAX_N}; got ${opts.minQueries}.`);
  }
  if (!Number.isInteger(opts.maxHistory) || opts.maxHistory < 1) {
    throw new AegisError("BAD_OPTION", `PRADA's maxHistory must be a positive whole number; got ${opts.maxHistory}.`);
  }

  let dim = 0;
  let queries = 0;
  let stored = 0;
  let classes = new Map<number, GrowingSet>();
  // The last SHAPIRO_WILK_MAX_N distances twice: in arrival order (a ring, to know which
  // leaves the window) and sorted (so outlier removal is a range and W needs no sort).
  const window = createDistanceWindow(SHAPIRO_WILK_MAX_N);

  const admit = (set: GrowingSet, x: Float32Array) => {
    if (stored >= opts.maxHistory) return false;
    if ((set.size + 1) * dim > set.data.length) {
      const grown = new Float32Array(Math.max(dim, set.data.length * 2));
      grown.set(set.data);
      set.data = grown;
    }
    set.data.set(x, set.size * dim);
    set.size++;
    stored++;
    return true;
  };

  const test = (): number | undefined => {
    if (window.count <= opts.minQueries) return undefined;
    const kept = window.withinThreeSigma();
    // Too few left, or no spread: W is undefined, so no verdict.
    if (kept.length < 3 || kept[kept.length - 1] - kept[0] <= 1e-12 * Math.max(1, kept[kept.length - 1])) return undefined;
    return shapiroWilkSorted(kept).w;
  };

  return {
    options: opts,
    observe(x, predictedClass) {
      if (dim === 0) dim = x.length;
      if (x.length !== dim) {
        throw new AegisError("SHAPE_MISMATCH", `PRADA got a query of ${x.length} values after queries of ${dim}; one detector serves one model input shape.`);
      }
      if (!Number.isInteger(predictedClass) || predictedClass < 0) {
        throw new AegisError("BAD_OPTION", `PRADA needs the predicted class as a non-negative integer; got ${predictedClass}.`);
      }
      queries++;
      let set = classes.get(predictedClass);
      let dMin: number | undefined;
      if (set === undefined) {
        set = { data: new Float32Array(0), size: 0, threshold: 0, admitted: [0] };
        classes.set(predictedClass, set);
      }
      if (set.size === 0) {
        admit(set, x);
      } else {
        dMin = nearestDistance(set.data, set.size, dim, x);
        // An exact repeat of an admitted query (a retry, a re-sent input) teaches an extractor
        // nothing, and its d_min of 0 would put an atom at zero in D that no normal fits, so
        // benign clients that retry would alarm. It is not tested.
        if (dMin === 0) {
          const w = test();
          return { alarm: w !== undefined && w < opts.delta, w, dMin, queries };
        }
        window.push(dMin);
        if (dMin > set.threshold && admit(set, x)) {
          set.admitted.push(dMin);
          const [mean, std] = meanStd(set.admitted);
          set.threshold = Math.max(set.threshold, mean - std);
        }
      }
      const w = test();
      return { alarm: w !== undefined && w < opts.delta, w, dMin, queries };
    },
    state() {
      return {
        version: 1,
        dim,
        queries,
        distances: window.inArrivalOrder(),
        classes: [...classes].map(([cls, s]) => ({
          cls,
          threshold: s.threshold,
          admitted: [...s.admitted],
          vectors: Buffer.from(s.data.buffer, s.data.byteOffset, s.size * dim * 4).toString("base64"),
        })),
      };
    },
    restore(state) {
      if (state?.version !== 1 || !Array.isArray(state.classes) || !Array.isArray(state.distances)) {
        throw new AegisError("BAD_DATA", "This PRADA state was not written by this version of Aegis; drop it to start the client afresh.");
      }
      const restored = new Map<number, GrowingSet>();
      let count = 0;
      for (const c of state.classes) {
        const bytes = Buffer.from(c.vectors, "base64");
        const data = new Float32Array(bytes.byteLength / 4);
        new Uint8Array(data.buffer).set(bytes);
        const size = state.dim > 0 ? data.length / state.dim : 0;
        if (!Number.isInteger(size)) {
          throw new AegisError("BAD_DATA", `PRADA state for class ${c.cls} holds ${data.length} values, not a multiple of ${state.dim}; drop it.`);
        }
        restored.set(c.cls, { data, size, threshold: c.threshold, admitted: [...c.admitted] });
        count += size;
      }
      dim = state.dim;
      queries = state.queries;
      stored = count;
      classes = restored;
      window.reset(state.distances);
    },
  };
}

/** Smallest L2 distance from x to the first `rows` rows of `set`. */
export function nearestDistance(set: Float32Array, rows: number, dim: number, x: Float32Array): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rows; r++) {
    const d = squaredDistanceBelow(set, r * dim, x, dim, best);
    if (d < best) best = d;
  }
  return Math.sqrt(best);
}

interface DistanceWindow {
  readonly count: number;
  push(d: number): void;
  /** The sorted distances z with |z − mean| < 3·std (Algorithm 1's outlier removal), a view. */
  withinThreeSigma(): Float64Array;
  inArrivalOrder(): number[];
  reset(values: readonly number[]): void;
}

/** A sliding window of distances kept both in arrival order and sorted. */
function createDistanceWindow(capacity: number): DistanceWindow {
  const ring = new Float64Array(capacity);
  const sorted = new Float64Array(capacity);
  let next = 0;
  let count = 0;
  const push = (d: number) => {
    if (count === capacity) {
      const at = lowerBound(sorted, count, ring[next]);
      sorted.copyWithin(at, at + 1, count);
      count--;
    }
    const at = lowerBound(sorted, count, d);
    sorted.copyWithin(at + 1, at, count);
    sorted[at] = d;
    count++;
    ring[next] = d;
    next = (next + 1) % capacity;
  };
  return {
    get count() {
      return count;
    },
    push,
    withinThreeSigma() {
      const values = sorted.subarray(0, count);
      const [mean, std] = meanStd(values);
      let low = lowerBound(values, count, mean - 3 * std);
      while (low < count && values[low] <= mean - 3 * std) low++;
      const high = lowerBound(values, count, mean + 3 * std);
      return values.subarray(low, Math.max(low, high));
    },
    inArrivalOrder() {
      const out: number[] = [];
      for (let i = 0; i < count; i++) out.push(ring[(next - count + i + capacity) % capacity]);
      return out;
    },
    reset(values) {
      count = 0;
      next = 0;
      for (const d of values.slice(-capacity)) push(d);
    },
  };
}

/** First index in sorted[0..count) whose value is ≥ v. */
function lowerBound(sorted: Float64Array, count: number, v: number): number {
  let low = 0;
  let high = count;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (sorted[mid] < v) low = mid + 1;
    else high = mid;
  }
  return low;
}

function meanStd(values: ArrayLike<number>): [number, number] {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i];
  mean /= values.length;
  let variance = 0;
  for (let i = 0; i < values.length; i++) variance += (values[i] - mean) ** 2;
  return [mean, Math.sqrt(variance / values.length)];
}
