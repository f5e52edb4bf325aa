/**
 * What an attack run is judged by, as ART and RobustBench count it: robust accuracy over
 * all samples (a sample the model already got wrong counts as a failure of the model),
 * success rate over the samples it got right, and the size of the perturbations.
 */
import type { Labels, Predictor } from "../engine/capabilities.js";
import { argmaxRow } from "../engine/trainer.js";
import { sizeOf, type Tensor } from "../tensor.js";

/** Whether a prediction is what the attack wants: the target class when targeted, anything but the true class otherwise. */
export function isAdversarial(predicted: number, label: number, targeted: boolean): boolean {
  return targeted ? predicted === label : predicted !== label;
}

export interface PerturbationStats {
  linf_mean: number;
  linf_median: number;
  l2_mean: number;
  l2_median: number;
  l0_mean: number;
  l0_median: number;
}

export interface AttackMetrics {
  samples: number;
  clean_accuracy: number;
  robust_accuracy: number;
  /** Among samples the model classified correctly: the share the attack fooled (untargeted) or sent to the target (targeted). */
  success_rate: number;
  /** Over successful adversarial examples only (the cost of a success). */
  perturbation: PerturbationStats;
  queries?: { mean: number; max: number };
  /** Per sample: clean prediction correct, adversarial prediction correct, attack succeeded. */
  perSample: { cleanCorrect: boolean[]; robustCorrect: boolean[]; success: boolean[]; adversarialLabel: number[] };
}

const median = (values: number[]) => {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mean = (values: number[]) => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length);

export async function attackMetrics(
  model: Predictor,
  x: Tensor<"float32">,
  adversarial: Tensor<"float32">,
  labels: Labels,
  options: { targets?: Labels; queries?: Int32Array; cleanOutput?: Tensor<"float32"> } = {},
): Promise<AttackMetrics> {
  const n = x.shape[0];
  const clean = options.cleanOutput ?? (await model.predict(x));
  const adv = await model.predict(adversarial);
  const row = sizeOf(x.shape.slice(1));
  const cleanCorrect: boolean[] = [];
  const robustCorrect: boolean[] = [];
  const success: boolean[] = [];
  const adversarialLabel: number[] = [];
  const linf: number[] = [];
  const l2: number[] = [];
  const l0: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = argmaxRow(clean, i) === labels[i];
    const a = argmaxRow(adv, i);
    adversarialLabel.push(a);
    cleanCorrect.push(c);
    robustCorrect.push(c && a === labels[i]);
    const ok = c && isAdversarial(a, options.targets?.[i] ?? labels[i], options.targets !== undefined);
    success.push(ok);
    if (!ok) continue;
    let mx = 0;
    let sq = 0;
    let nz = 0;
    for (let k = i * row; k < (i + 1) * row; k++) {
      const d = Math.abs(adversarial.data[k] - x.data[k]);
      mx = Math.max(mx, d);
      sq += d * d;
      if (d > 1e-6) nz++;
    }
    linf.push(mx);
    l2.push(Math.sqrt(sq));
    l0.push(nz);
  }
  const correct = cleanCorrect.filter(Boolean).length;
  const q = options.queries ? Array.from(options.queries) : undefined;
  return {
    samples: n,
    clean_accuracy: correct / n,
    robust_accuracy: robustCorrect.filter(Boolean).length / n,
    success_rate: correct === 0 ? 0 : success.filter(Boolean).length / correct,
    perturbation: {
      linf_mean: mean(linf),
      linf_median: median(linf),
      l2_mean: mean(l2),
      l2_median: median(l2),
      l0_mean: mean(l0),
      l0_median: median(l0),
    },
    queries: q ? { mean: mean(q), max: Math.max(0, ...q) } : undefined,
    perSample: { cleanCorrect, robustCorrect, success, adversarialLabel },
  };
}
