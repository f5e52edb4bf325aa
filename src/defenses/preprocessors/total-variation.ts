/**
 * Total-variation minimisation (Guo, Rana, Cissé & van der Maaten 2018, "Countering
 * Adversarial Images using Input Transformations", ICLR): drop pixels at random, then
 * reconstruct the image z closest to the kept pixels with little total variation,
 *   min_z ½·Σ m ⊙ (z − x)² + λ·TV(z),   m ~ Bernoulli(keepProb) per pixel and channel,
 * which removes small perturbations while keeping edges. The pixel dropout makes it
 * randomised, so attacks need EOT (Athalye et al. 2018). Deviations: the fidelity term is
 * squared and TV is isotropic (the paper uses an Lp norm of differences), which makes the
 * problem solvable exactly by the primal–dual algorithm of Chambolle & Pock 2011 in
 * `maxIter` steps; keepProb 0.5 and λ 0.03 are chosen for [0, 1] MNIST-scale images (the
 * paper tunes both per model). Backward: the identity (BPDA, as Athalye et al. did for
 * this defence).
 */
import { createRng, type Rng } from "../../data/random.js";
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Preprocessor } from "../types.js";
import { imageLayout } from "./spatial-smoothing.js";

export interface TotalVariationOptions {
  /** Probability that a pixel is kept in the fidelity term (default 0.5). */
  keepProb?: number;
  /** Weight λ of the total variation (default 0.03). */
  lambda?: number;
  /** Primal–dual iterations (default 50). */
  maxIter?: number;
  /** Range the result is clipped to (default [0, 1]). */
  clipRange?: readonly [number, number];
  channelsFirst?: boolean;
  /** Seed of the dropout generator (default 0), or a generator to share. */
  seed?: number;
  rng?: Rng;
}

export interface TotalVariation extends Preprocessor {
  apply(x: Tensor<"float32">): Tensor<"float32">;
  readonly kind: "total-variation";
  readonly keepProb: number;
  readonly lambda: number;
}

/**
 * Solves min_z ½·Σ m(z − x)² + λ·TV(z) on one H × W plane (Chambolle & Pock 2011,
 * algorithm 1 with τ = σ = 1/√8 so that τσ‖∇‖² ≤ 1).
 */
export function tvDenoise(x: Float64Array, mask: Uint8Array, height: number, width: number, lambda: number, maxIter: number): Float64Array {
  const n = height * width;
  const tau = 1 / Math.sqrt(8);
  const sigma = tau;
  const z = Float64Array.from(x);
  const zBar = Float64Array.from(x);
  const px = new Float64Array(n);
  const py = new Float64Array(n);
  for (let iter = 0; iter < maxIter; iter++) {
    // Dual ascent on p, then projection onto the ball |p| ≤ λ.
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        const k = i * width + j;
        const gx = j + 1 < width ? zBar[k + 1]! - zBar[k]! : 0;
        const gy = i + 1 < height ? zBar[k + width]! - zBar[k]! : 0;
        const qx = px[k]! + sigma * gx;
        const qy = py[k]! + sigma * gy;
        const shrink = Math.max(1, Math.hypot(qx, qy) / lambda);
        px[k] = qx / shrink;
        py[k] = qy / shrink;
      }
    }
    // Primal descent along div p, then the proximal step of the masked fidelity.
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        const k = i * width + j;
        const divX = (j + 1 < width ? px[k]! : 0) - (j > 0 ? px[k - 1]! : 0);
        const divY = (i + 1 < height ? py[k]! : 0) - (i > 0 ? py[k - width]! : 0);
        const v = z[k]! + tau * (divX + divY);
        const next = (v + tau * mask[k]! * x[k]!) / (1 + tau * mask[k]!);
        zBar[k] = 2 * next - z[k]!;
        z[k] = next;
      }
    }
  }
  return z;
}

export function totalVariation(options: TotalVariationOptions = {}): TotalVariation {
  const keepProb = options.keepProb ?? 0.5;
  const lambda = options.lambda ?? 0.03;
  const maxIter = options.maxIter ?? 50;
  if (!(keepProb > 0 && keepProb <= 1)) throw new AegisError("BAD_OPTION", `total-variation minimisation needs keepProb in (0, 1], got ${keepProb}.`);
  if (!(lambda > 0 && Number.isFinite(lambda))) throw new AegisError("BAD_OPTION", `total-variation minimisation needs a positive lambda, got ${lambda}.`);
  if (!Number.isInteger(maxIter) || maxIter < 1)
    throw new AegisError("BAD_OPTION", `total-variation minimisation needs a positive integer maxIter, got ${maxIter}.`);
  const [lo, hi] = options.clipRange ?? [0, 1];
  const channelsFirst = options.channelsFirst ?? true;
  const rng = options.rng ?? createRng(options.seed ?? 0);
  return {
    kind: "total-variation",
    name: `total-variation(keep=${keepProb},lambda=${lambda})`,
    randomized: true,
    keepProb,
    lambda,
    apply(x: Tensor<"float32">): Tensor<"float32"> {
      const { channels, height, width } = imageLayout(x.shape, channelsFirst, "total-variation minimisation");
      const plane = height * width;
      const at = (c: number, p: number) => (channelsFirst ? c * plane + p : p * channels + c);
      const out = new Float32Array(x.data.length);
      const values = new Float64Array(plane);
      const mask = new Uint8Array(plane);
      const n = x.shape[0]!;
      for (let s = 0; s < n; s++) {
        const base = s * channels * plane;
        for (let c = 0; c < channels; c++) {
          for (let p = 0; p < plane; p++) {
            values[p] = x.data[base + at(c, p)]!;
            mask[p] = rng.next() < keepProb ? 1 : 0;
          }
          const z = tvDenoise(values, mask, height, width, lambda, maxIter);
          for (let p = 0; p < plane; p++) out[base + at(c, p)] = Math.min(hi, Math.max(lo, z[p]!));
        }
      }
      return float32(x.shape, out);
    },
    backward(_x: Tensor<"float32">, gradOut: Tensor<"float32">): Tensor<"float32"> {
      return gradOut;
    },
  };
}
