/**
 * The ε-curve runner (Foolbox 3's "an attack over a list of epsilons"): one attack run per
 * ε on the same samples, each from the same seed so a run does not depend on which ε came
 * before it, scored by the ART/RobustBench metrics. `aegis attack`, `aegis audit` and the
 * defence evaluation all run attacks through it. A run cut short by the signal would
 * overstate robustness, so it is dropped and the curve reports `interrupted`.
 *
 * A run is split into shards of one attack batch, each drawing from its own seed (a
 * function of the run's seed and the shard's index), and the shards go to an executor:
 * in this process one after another, or to workers (campaigns/). The shards are the
 * same either way, so a sharded run gives the same numbers as a local one; a deterministic
 * attack gives what it gave before sharding, since its batches are unchanged.
 */

import type { Attack, AttackOutput, AutoAttackOutput, CommonParams } from "../attacks/index.js";
import { type AttackMetrics, attackMetrics } from "../attacks/index.js";
import { createRng, deriveSeed } from "../data/random.js";
import type { Labels, Predictor } from "../engine/capabilities.js";
import type { InputKind } from "../engine/input-kind.js";
import type { ProgressSink } from "../progress.js";
import { sliceRows, type Tensor } from "../tensor.js";

export interface CurveOptions {
  /** Budgets to run at; null runs a minimum-norm attack once, with its own ε. */
  epsilons: readonly (number | null)[];
  params: CommonParams & Record<string, unknown>;
  /** Target classes of a targeted run, one per sample; the attack then pushes towards them. */
  targets?: Labels;
  /** The model's outputs on the clean samples, when the caller already has them. */
  cleanOutput?: Tensor<"float32">;
  seed: number;
  signal?: AbortSignal;
  /** The model's input kind, passed to the attacks (AttackContext.inputKind). */
  inputKind?: InputKind;
  /** A progress sink for the run at ε. */
  progress?: (eps: number | null) => ProgressSink | undefined;
  /** Called as each run finishes, in order. */
  onRun?: (run: CurveRun) => void;
  /** Runs the shards (default: here, one after another). */
  executor?: ShardExecutor;
}

/** Rows [start, end) of a run's samples, attacked from their own seed. */
export interface Shard {
  index: number;
  start: number;
  end: number;
  seed: number;
}

/** One run of an attack at one ε, split into shards. */
export interface ShardedRun<M = unknown> {
  attack: Attack<CommonParams, M>;
  /** The run's parameters, its ε and `targeted` included. */
  params: CommonParams & Record<string, unknown>;
  x: Tensor<"float32">;
  /** Labels, or the targets of a targeted run. */
  y: Labels;
  shards: readonly Shard[];
  inputKind?: InputKind;
}

export interface ShardRunContext {
  signal?: AbortSignal;
  /** Samples done out of the run's total, across shards. */
  onProgress?: (done: number, total: number) => void;
}

/** Runs a sharded run's shards and returns their outputs in shard order. */
export interface ShardExecutor {
  <M extends Predictor>(model: M, run: ShardedRun<M>, context: ShardRunContext): Promise<AttackOutput[]>;
  /**
   * Runs may start before the ones before them finish: the curve hands over every ε at once,
   * so workers do not idle while this process scores a finished run.
   */
  readonly concurrent?: boolean;
}

/** The seed of shard `index`: shard 0 keeps the run's seed, so a run of one batch draws what it always did. */
export function shardSeed(seed: number, index: number): number {
  return deriveSeed(seed, index);
}

/** Splits n samples into shards of `size` (one shard for an attack that cannot be split). */
export function planShards(n: number, size: number, seed: number, joint = false): Shard[] {
  const step = joint ? Math.max(1, n) : Math.max(1, Math.floor(size));
  const shards: Shard[] = [];
  for (let start = 0; start < n; start += step)
    shards.push({ index: shards.length, start, end: Math.min(n, start + step), seed: shardSeed(seed, shards.length) });
  return shards;
}

/** One shard of a run: the plain function a worker calls on its rows of the samples. */
export function attackShard<M>(
  attack: Attack<CommonParams, M>,
  model: M,
  x: Tensor<"float32">,
  y: Labels,
  params: CommonParams & Record<string, unknown>,
  seed: number,
  context: ShardRunContext & { inputKind?: InputKind },
): Promise<AttackOutput> {
  return attack.run(model, x, y, params, { rng: createRng(seed), signal: context.signal, onProgress: context.onProgress, inputKind: context.inputKind });
}

/** Runs the shards here, one after another; a signal stops after the current one. */
export const localExecutor: ShardExecutor = async (model, run, context) => {
  const outputs: AttackOutput[] = [];
  const total = run.x.shape[0];
  for (const shard of run.shards) {
    if (context.signal?.aborted) break;
    const output = await attackShard(run.attack, model, sliceRows(run.x, shard.start, shard.end), run.y.slice(shard.start, shard.end), run.params, shard.seed, {
      signal: context.signal,
      inputKind: run.inputKind,
      onProgress: (done) => context.onProgress?.(shard.start + done, total),
    });
    outputs.push(output);
  }
  return outputs;
};

/** The shards' outputs as one run's: rows concatenated, and AutoAttack's per-sample record with them. */
export function mergeShards(outputs: readonly AttackOutput[]): AttackOutput {
  if (outputs.length === 1) return outputs[0];
  const first = outputs[0].x;
  const rows = outputs.reduce((s, o) => s + o.x.shape[0], 0);
  const data = new Float32Array(outputs.reduce((s, o) => s + o.x.data.length, 0));
  let at = 0;
  for (const o of outputs) {
    data.set(o.x.data, at);
    at += o.x.data.length;
  }
  const merged: AttackOutput & Partial<AutoAttackOutput> = { x: { ...first, shape: [rows, ...first.shape.slice(1)], data } };
  if (outputs.every((o) => o.queries)) {
    merged.queries = new Int32Array(rows);
    let row = 0;
    for (const o of outputs) {
      merged.queries.set(o.queries as Int32Array, row);
      row += o.x.shape[0];
    }
  }
  const ensembles = outputs.filter((o): o is AutoAttackOutput => "brokenBy" in o);
  if (ensembles.length === outputs.length) {
    merged.brokenBy = ensembles.flatMap((o) => o.brokenBy);
    // A stage ran when any shard still had a sample to break: the union, in running order.
    merged.attacks = [...new Set(ensembles.flatMap((o) => o.attacks))];
  }
  return merged;
}

export interface CurveRun {
  eps: number | null;
  output: AttackOutput;
  metrics: AttackMetrics;
  seconds: number;
}

export interface Curve {
  runs: CurveRun[];
  /** The signal stopped a run, which was dropped; the runs before it are complete. */
  interrupted: boolean;
}

export async function runCurve<M extends Predictor>(
  attack: Attack<CommonParams, M>,
  model: M,
  x: Tensor<"float32">,
  labels: Labels,
  options: CurveOptions,
): Promise<Curve> {
  const runs: CurveRun[] = [];
  const executor = options.executor ?? localExecutor;
  const batch = options.params.batchSize;
  const size = typeof batch === "number" ? batch : x.shape[0];
  const shards = planShards(x.shape[0], size, options.seed, attack.joint);
  // Samples done per run, kept for a concurrent run whose progress arrives before its bar exists.
  const progressed = options.epsilons.map(() => ({ done: 0, total: x.shape[0], bar: undefined as ProgressSink | undefined }));
  const start = (i: number) => {
    const eps = options.epsilons[i];
    const params = { ...options.params, ...(eps === null ? {} : { eps }), targeted: options.targets !== undefined };
    const shown = progressed[i];
    return executor(
      model,
      { attack, params, x, y: options.targets ?? labels, shards, inputKind: options.inputKind },
      {
        signal: options.signal,
        onProgress: (done, total) => {
          Object.assign(shown, { done, total });
          shown.bar?.update(done, "", total);
        },
      },
    );
  };
  const started = executor.concurrent ? options.epsilons.map((_, i) => start(i)) : [];
  // A later run's failure is reported when its turn comes, not as an unhandled rejection meanwhile.
  for (const run of started) run.catch(() => {});
  for (const [i, eps] of options.epsilons.entries()) {
    if (options.signal?.aborted) return { runs, interrupted: true };
    const shown = progressed[i];
    shown.bar = options.progress?.(eps);
    if (shown.done > 0) shown.bar?.update(shown.done, "", shown.total);
    const began = performance.now();
    const outputs = await (started[i] ?? start(i));
    shown.bar?.stop();
    if (options.signal?.aborted || outputs.length < shards.length) return { runs, interrupted: true };
    const output = mergeShards(outputs);
    const metrics = await attackMetrics(model, x, output.x, labels, { targets: options.targets, queries: output.queries, cleanOutput: options.cleanOutput });
    const run = { eps, output, metrics, seconds: (performance.now() - began) / 1000 };
    runs.push(run);
    options.onRun?.(run);
  }
  return { runs, interrupted: false };
}

/** A random target class other than the true one for each sample, seeded (the targets of a targeted run). */
export function randomTargets(labels: Labels, numClasses: number, seed: number): number[] {
  const rng = createRng(seed);
  return labels.map((l) => (l + 1 + rng.int(numClasses - 1)) % numClasses);
}
