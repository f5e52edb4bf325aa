/**
 * The ε-curve runner (Foolbox 3's "an attack over a list of epsilons"): one attack run per
 * ε on the same samples, each from the same seed so a run does not depend on which ε came
 * before it, scored by the ART/RobustBench metrics. `aegis attack`, `aegis audit` and the
 * defence evaluation all run attacks through it. A run cut short by the signal would
 * overstate robustness, so it is dropped and the curve reports `interrupted`.
 */

import type { Attack, AttackOutput, CommonParams } from "../attacks/index.js";
import { type AttackMetrics, attackMetrics } from "../attacks/index.js";
import { createRng } from "../data/random.js";
import type { Labels, Predictor } from "../engine/capabilities.js";
import type { InputKind } from "../engine/input-kind.js";
import type { ProgressSink } from "../progress.js";
import type { Tensor } from "../tensor.js";

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
  for (const eps of options.epsilons) {
    if (options.signal?.aborted) return { runs, interrupted: true };
    const bar = options.progress?.(eps);
    const started = performance.now();
    const output = await attack.run(
      model,
      x,
      options.targets ?? labels,
      { ...options.params, ...(eps === null ? {} : { eps }), targeted: options.targets !== undefined },
      { rng: createRng(options.seed), signal: options.signal, onProgress: (done, total) => bar?.update(done, "", total), inputKind: options.inputKind },
    );
    bar?.stop();
    if (options.signal?.aborted) return { runs, interrupted: true };
    const metrics = await attackMetrics(model, x, output.x, labels, { targets: options.targets, queries: output.queries, cleanOutput: options.cleanOutput });
    const run = { eps, output, metrics, seconds: (performance.now() - started) / 1000 };
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
