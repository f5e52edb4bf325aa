/**
 * Online drift detection over a stream (the guard's model routes): the stream is cut into
 * tumbling windows of W rows, and each full window is checked against a fitted detector's
 * reference exactly as `aegis drift check` checks a batch (compareToReference), in a worker
 * thread, so no request waits for a permutation test.
 *
 * False alarms. Each window's check is one Bonferroni-corrected family at level α: under no
 * drift it reports drift with probability at most α (the MMD permutation test is exact at any
 * window size; the KS and chi-square tests are asymptotic, see README "Drift monitoring"). By
 * linearity of expectation, K checked windows raise at most Kα false alarms on average,
 * whatever the dependence the shared reference puts between windows: at least W/α rows
 * between false alarms on average, the expected run length alibi-detect's online detectors
 * are configured by, here obtained from a windowed test rather than its online MMD. A change
 * that starts mid-window is reported by the first window wholly after it: within 2W − 1 rows.
 *
 * Back-pressure: a window that fills while the worker is still checking waits; a further full
 * window replaces the waiting one and is counted as skipped, so a burst of traffic queues no
 * work and no memory without bound. Skipping does not change the level of the checks made.
 */
import type { Worker } from "node:worker_threads";
import { AegisError } from "../../errors.js";
import { startWorker } from "../../threads.js";
import type { DriftReference, DriftTest, Observation } from "./detector.js";

export interface OnlineDriftOptions {
  /** Rows per window (each window is checked once, then discarded). */
  window: number;
  /** Per-window false-alarm rate (default: the detector's α). */
  alpha?: number;
  /** MMD permutations per check (default: the detector's). */
  permutations?: number;
  /** Seeds the MMD subsets and permutations; window i uses seed + i. */
  seed?: number;
  onWindow(check: WindowCheck): void;
  /** A check failed (a bug, since the window's layout is checked on entry); the monitor goes on with the next window. */
  onError?(error: Error): void;
}

export interface WindowCheck {
  /** The window's number in the stream, 1 for the first (skipped windows have numbers too). */
  index: number;
  rows: number;
  drift: boolean;
  /** The smallest p-value times the number of tests (Bonferroni), at most 1: drift exactly when it is below α. */
  pValue: number;
  alpha: number;
  tests: DriftTest[];
  /** Full windows dropped unchecked between the previous check and this one, because the worker was busy. */
  skipped: number;
}

/** The smallest window the tests make sense on (the chi-square's pooling needs a few rows per class). */
export const MIN_WINDOW = 20;

/** The detector a window is checked with: the file's, at the route's α and permutations; refuses settings whose smallest p-value cannot reach α/T. */
export function windowDetector(detector: DriftReference, options: Pick<OnlineDriftOptions, "window" | "alpha" | "permutations">): DriftReference {
  if (!(Number.isInteger(options.window) && options.window >= MIN_WINDOW))
    throw new AegisError("BAD_OPTION", `a drift window of ${options.window} rows is too small; give at least ${MIN_WINDOW} (a few hundred for a useful test)`);
  const alpha = options.alpha ?? detector.alpha;
  if (!(alpha > 0 && alpha < 1)) throw new AegisError("BAD_OPTION", `a window's α must lie between 0 and 1, not ${alpha}`);
  if (detector.method !== "mmd" || !detector.mmd) return { ...detector, alpha };
  const permutations = options.permutations ?? detector.mmd.permutations;
  // The MMD check has three tests: the kernel test, predicted classes and confidence.
  const needed = Math.ceil(3 / alpha);
  if (!(Number.isInteger(permutations) && permutations >= needed))
    throw new AegisError(
      "BAD_OPTION",
      `${permutations} permutations cannot give a p-value below α/3 = ${(alpha / 3).toPrecision(3)}; set permutations to at least ${needed}`,
    );
  return { ...detector, alpha, mmd: { ...detector.mmd, permutations } };
}

interface Job {
  window: Observation;
  number: number;
  skipped: number;
}

type Reply = { id: number; tests: DriftTest[]; drift: boolean } | { id: number; error: string };

export class OnlineDriftMonitor {
  private chunks: Observation[] = [];
  private rows = 0;
  /** Windows filled so far: a window's number seeds its check. */
  private filled = 0;
  /** The next window to check, with the count of full windows it replaced while it waited. */
  private waiting: Job | undefined;
  /** The windows replaced before the one being checked. */
  private skippedBeforeChecking = 0;
  private checking = false;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    private readonly detector: DriftReference,
    private readonly options: OnlineDriftOptions,
  ) {
    worker.on("message", (reply: Reply) => this.done(reply));
    worker.on("error", (e) => this.options.onError?.(e));
    // A worker that dies (out of memory) checks nothing more: say so rather than go quiet.
    worker.on("exit", (code) => {
      if (!this.closed) this.options.onError?.(new Error(`the drift worker exited (code ${code}); no further windows are checked`));
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  /** Starts the worker that checks windows against `detector` (a fitted detector's reference; see windowDetector for the options it accepts). */
  static async start(detector: DriftReference, options: OnlineDriftOptions): Promise<OnlineDriftMonitor> {
    const checked = windowDetector(detector, options);
    const worker = startWorker(import.meta.url, "online-worker", { detector: checked });
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
    });
    // Idle, the monitor does not keep the process running (a guard that failed to start must exit); checking, it does.
    worker.unref();
    return new OnlineDriftMonitor(worker, checked, options);
  }

  /** Rows in the window being filled. */
  get filling(): number {
    return this.rows;
  }

  get alpha(): number {
    return this.detector.alpha;
  }

  /** Adds a batch's rows to the stream; each window it completes is queued for a check. */
  observe(batch: Observation): void {
    const { dim } = this.detector.reference.values;
    if (batch.values.dim !== dim)
      throw new AegisError(
        "SHAPE_MISMATCH",
        `the stream has ${batch.values.dim} values per row, the drift reference ${dim}; use the detector fitted for this model`,
      );
    let from = 0;
    while (from < batch.values.rows) {
      const take = Math.min(this.options.window - this.rows, batch.values.rows - from);
      this.chunks.push(rowRange(batch, from, from + take));
      this.rows += take;
      from += take;
      if (this.rows === this.options.window) {
        this.enqueue(concatenate(this.chunks));
        this.chunks = [];
        this.rows = 0;
      }
    }
  }

  /** Resolves once every full window so far has been checked (or skipped). */
  idle(): Promise<void> {
    if (!this.checking) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker.terminate();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private enqueue(window: Observation): void {
    const job = { window, number: ++this.filled, skipped: this.waiting ? this.waiting.skipped + 1 : 0 };
    if (this.checking) this.waiting = job;
    else this.send(job);
  }

  private send({ window, number, skipped }: Job): void {
    this.checking = true;
    this.worker.ref();
    this.skippedBeforeChecking = skipped;
    // The window's arrays were allocated for it: moved to the worker, not copied.
    this.worker.postMessage({ id: number, window, seed: (this.options.seed ?? 0) + number }, [
      window.values.data.buffer,
      window.predicted.buffer,
      window.confidence.buffer,
    ] as ArrayBuffer[]);
  }

  private done(reply: Reply): void {
    if ("error" in reply) this.options.onError?.(new Error(`drift check of window ${reply.id} failed: ${reply.error}`));
    else {
      const smallest = Math.min(...reply.tests.map((t) => t.pValue));
      this.options.onWindow({
        index: reply.id,
        rows: this.options.window,
        drift: reply.drift,
        pValue: Math.min(1, smallest * reply.tests.length),
        alpha: this.detector.alpha,
        tests: reply.tests,
        skipped: this.skippedBeforeChecking,
      });
    }
    const next = this.waiting;
    this.waiting = undefined;
    if (next) this.send(next);
    else {
      this.checking = false;
      this.worker.unref();
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}

function rowRange(o: Observation, from: number, to: number): Observation {
  const { dim } = o.values;
  return {
    values: { rows: to - from, dim, data: o.values.data.subarray(from * dim, to * dim) },
    predicted: o.predicted.subarray(from, to),
    confidence: o.confidence.subarray(from, to),
    classes: o.classes,
  };
}

/** One observation of the chunks' rows in order, in arrays of its own (the chunks may be views of a request's tensors). */
function concatenate(chunks: readonly Observation[]): Observation {
  const rows = chunks.reduce((n, c) => n + c.values.rows, 0);
  const { dim } = chunks[0].values;
  const out: Observation = {
    values: { rows, dim, data: new Float32Array(rows * dim) },
    predicted: new Int32Array(rows),
    confidence: new Float64Array(rows),
    classes: Math.max(...chunks.map((c) => c.classes)),
  };
  let at = 0;
  for (const c of chunks) {
    out.values.data.set(c.values.data, at * dim);
    out.predicted.set(c.predicted, at);
    out.confidence.set(c.confidence, at);
    at += c.values.rows;
  }
  return out;
}
