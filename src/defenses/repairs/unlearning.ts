/**
 * Neural Cleanse unlearning — Wang et al., "Neural Cleanse: Identifying and Mitigating
 * Backdoor Attacks in Neural Networks", IEEE S&P 2019, §VI-C. The reversed trigger of a
 * backdoored class (neural-cleanse.ts) is stamped on 20% of the defender's clean training
 * inputs, which keep their correct labels, and the model is fine-tuned on the result for one
 * epoch: it learns that the trigger means nothing. With several flagged classes the stamped
 * rows are shared out among their triggers.
 */
import { type CompiledTrigger, stampRows } from "../../attacks/index.js";
import { createRng } from "../../data/random.js";
import type { OnnxClassifier } from "../../engine/classifier.js";
import { adam } from "../../engine/optimizers.js";
import { train } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { withDefaults } from "../settings.js";

export const UNLEARNING_PAPER = "Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao 2019, Neural Cleanse (§VI-C, unlearning)";

export interface UnlearningOptions {
  /** Share of the clean inputs stamped with a reversed trigger (the paper: 0.2). */
  stampedShare?: number;
  /** Fine-tuning epochs (the paper: 1). */
  epochs?: number;
  learningRate?: number;
  batchSize?: number;
  seed?: number;
  signal?: AbortSignal;
}

export const UNLEARNING_DEFAULTS: Required<Omit<UnlearningOptions, "signal">> = {
  stampedShare: 0.2,
  epochs: 1,
  learningRate: 1e-3,
  batchSize: 64,
  seed: 0,
};

/** Fine-tunes `model` (created with `trainable: true`) in place; returns how many rows carried a trigger. */
export async function unlearnTriggers(
  model: OnnxClassifier,
  clean: { x: Tensor<"float32">; labels: readonly number[] },
  triggers: readonly CompiledTrigger[],
  options: UnlearningOptions = {},
): Promise<{ stamped: number }> {
  const o = withDefaults(UNLEARNING_DEFAULTS, options);
  if (triggers.length === 0) throw new AegisError("BAD_OPTION", "unlearning needs at least one reversed trigger");
  if (!(o.stampedShare > 0 && o.stampedShare <= 1)) throw new AegisError("BAD_OPTION", `the stamped share must be in (0, 1], not ${o.stampedShare}`);
  const n = clean.x.shape[0];
  const rowSize = sizeOf(clean.x.shape.slice(1));
  const rng = createRng(o.seed);
  // A seeded shuffle picks the rows to stamp.
  const rows = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  const chosen = rows.slice(0, Math.round(n * o.stampedShare));
  const data = Float32Array.from(clean.x.data);
  triggers.forEach((trigger, t) => {
    stampRows(
      data,
      rowSize,
      chosen.filter((_, i) => i % triggers.length === t),
      trigger,
    );
  });
  await train(
    model,
    { x: float32(clean.x.shape, data), labels: clean.labels },
    { epochs: o.epochs, batchSize: o.batchSize, optimizer: adam({ lr: o.learningRate }), seed: o.seed, signal: options.signal },
  );
  return { stamped: chosen.length };
}
