/**
 * Clean-label backdoor — Turner, Tsipras & Madry, "Label-Consistent Backdoor Attacks", 2019.
 * BadNets changes the labels of the rows it stamps, which an inspection of the labels
 * catches. Here the attacker only touches rows of the target class and keeps their (correct)
 * labels. A trigger alone on such rows teaches little: the model already classifies them
 * by their content. So each row is first made hard to classify — projected gradient ascent
 * on the loss of its true label under a robust proxy model (Madry et al.'s adversarially
 * trained model, as in the paper; `models/mnist-cnn-pgd-at.onnx` for MNIST), within an L∞
 * ball — and then stamped. The model trained on the set learns the trigger as the
 * shortcut to the target class.
 *
 * Defaults from the paper: ε = 16/255 of the input range (its strongest setting that stays
 * hard to see; it also reports 8/255 and 32/255), the 3×3 black-and-white checkerboard at
 * full amplitude in the bottom-right corner, all-to-one. PGD as Madry et al.: a random start
 * in the ball, then `maxIter` signed-gradient steps of 2.5·ε/maxIter. The paper counts its
 * budget as a share of the target class; `fraction` here is a share of all rows, as for
 * BadNets, so the two compare at the same budget (it cannot exceed the target class's share).
 * Deviation: no reduced-amplitude or four-corner trigger (the paper adds them against data
 * augmentation, which Aegis's training does not apply).
 */
import type { LossGradient, ModelInfo } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { float32, gatherRows, sizeOf } from "../../tensor.js";
import { createManifest } from "./manifest.js";
import { budget, checkClass, drawRows } from "./rows.js";
import { compileTrigger, imageOf, stampRows, type TriggerSpec } from "./trigger.js";
import type { PoisoningAttack } from "./types.js";

export interface CleanLabelParams {
  fraction: number;
  target: number;
  /** L∞ radius as a share of the model's input range. */
  eps: number;
  maxIter: number;
  /** The trigger; null for the paper's 3×3 checkerboard one pixel from the bottom-right corner. */
  trigger: TriggerSpec | null;
}

const BATCH = 128;

export const cleanLabel: PoisoningAttack<CleanLabelParams> = {
  name: "clean-label",
  title: "Clean-label backdoor",
  paper: "Turner, Tsipras & Madry 2019, Label-Consistent Backdoor Attacks",
  needsModel: true,
  defaults: { fraction: 0.05, target: 0, eps: 16 / 255, maxIter: 40, trigger: null },
  help: {
    fraction: "share of all rows poisoned, drawn among the target class's rows (labels unchanged)",
    target: "class the trigger sends inputs to",
    eps: "L∞ radius of the perturbation, as a share of the input range (paper: 16/255)",
    maxIter: "PGD steps against the robust proxy model",
    trigger: "pixel, pattern, patch or blend (default: the paper's 3×3 checkerboard, bottom-right)",
  },
  async poison(data, p, { rng, model, signal, progress }) {
    if (!model)
      throw new AegisError(
        "BAD_OPTION",
        "the clean-label backdoor perturbs its rows against a robust proxy model; give one with --model (e.g. models/mnist-cnn-pgd-at.onnx)",
      );
    checkClass(p.target, data.numClasses, "--target");
    if (!(p.eps > 0 && p.eps <= 1)) throw new AegisError("BAD_OPTION", `eps must be in (0, 1] (a share of the input range), not ${p.eps}`);
    if (!(Number.isInteger(p.maxIter) && p.maxIter >= 1)) throw new AegisError("BAD_OPTION", `maxIter must be a positive integer, not ${p.maxIter}`);
    const sampleShape = data.x.shape.slice(1);
    const trigger = p.trigger ?? paperTrigger(sampleShape);
    const compiled = compileTrigger(trigger, sampleShape);
    const candidates = data.labels.flatMap((y, i) => (y === p.target ? [i] : []));
    const rows = drawRows(candidates, budget(p.fraction, data.x.shape[0]), rng, `the clean-label backdoor on class ${p.target}`);
    const row = sizeOf(sampleShape);
    const x = Float32Array.from(data.x.data);
    const bar = progress?.("clean-label PGD", rows.length);
    try {
      for (let start = 0; start < rows.length; start += BATCH) {
        if (signal?.aborted) throw new AegisError("INTERRUPTED", "the clean-label backdoor was interrupted");
        const chunk = rows.slice(start, start + BATCH);
        const hard = await hardToLearn(model, gatherRows(data.x, chunk).data, chunk.length, sampleShape, p, rng.next);
        chunk.forEach((r, i) => {
          x.set(hard.subarray(i * row, (i + 1) * row), r * row);
        });
        bar?.update(start + chunk.length);
      }
    } finally {
      bar?.stop();
    }
    stampRows(x, row, rows, compiled);
    const goal = { kind: "backdoor" as const, target: p.target, mode: "all-to-one" as const };
    return { x: { ...data.x, data: x }, labels: [...data.labels], manifest: createManifest(cleanLabel, { ...p, trigger }, data, goal, trigger, rows) };
  },
};

/** The paper's trigger: a 3×3 checkerboard whose far corner is one pixel from the bottom-right. */
function paperTrigger(sampleShape: readonly number[]): TriggerSpec {
  const { height, width } = imageOf(sampleShape);
  return { kind: "patch", size: 3, row: height - 4, col: width - 4, fill: "checkerboard", value: 1 };
}

/** PGD ascent on the loss of the rows' own (target) label, within the L∞ ball of radius eps·range. */
async function hardToLearn(
  model: LossGradient & ModelInfo,
  clean: Float32Array,
  n: number,
  sampleShape: readonly number[],
  p: CleanLabelParams,
  random: () => number,
): Promise<Float32Array> {
  const [lo, hi] = model.clipRange;
  const range = Number.isFinite(hi - lo) ? hi - lo : 1;
  const eps = p.eps * range;
  const step = (2.5 * eps) / p.maxIter;
  const clip = (v: number, k: number) => Math.min(Math.min(hi, clean[k] + eps), Math.max(Math.max(lo, clean[k] - eps), v));
  const x = Float32Array.from(clean, (v, k) => clip(v + (2 * random() - 1) * eps, k));
  const labels = new Array(n).fill(p.target);
  for (let i = 0; i < p.maxIter; i++) {
    const grad = await model.lossGradient(float32([n, ...sampleShape], x), labels);
    for (let k = 0; k < x.length; k++) x[k] = clip(x[k] + step * Math.sign(grad.data[k]), k);
  }
  return x;
}
