/**
 * Gaussian-noise preprocessing: x + N(0, σ²) per value, clipped to the valid range — the
 * randomised input transform of Zantedeschi, Nicolae & Rawat 2017 ("Efficient Defenses
 * Against Adversarial Attacks") and the noise of randomized smoothing (Cohen, Rosenfeld &
 * Kolter 2019), whose σ = 0.25 is the default. Each call draws fresh noise from the seeded
 * generator, so an attacker needs EOT (Athalye et al. 2018): the wrapper averages gradients
 * over draws. The backward pass is the identity, the derivative of x + noise (the clip is
 * passed straight through).
 */
import { createRng, type Rng } from "../../data/random.js";
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Preprocessor } from "../types.js";

export interface GaussianNoiseOptions {
  /** Standard deviation σ of the noise (default 0.25). */
  sigma?: number;
  /** Range the noisy input is clipped to; null to leave it unclipped (default [0, 1]). */
  clipRange?: readonly [number, number] | null;
  /** Seed of the noise generator (default 0), or a generator to share. */
  seed?: number;
  rng?: Rng;
}

export interface GaussianNoise extends Preprocessor {
  apply(x: Tensor<"float32">): Tensor<"float32">;
  readonly kind: "gaussian-noise";
  readonly sigma: number;
  readonly clipRange: readonly [number, number] | null;
}

export function gaussianNoise(options: GaussianNoiseOptions = {}): GaussianNoise {
  const sigma = options.sigma ?? 0.25;
  if (!(Number.isFinite(sigma) && sigma > 0)) throw new AegisError("BAD_OPTION", `Gaussian noise needs a positive sigma, got ${sigma}.`);
  const clip = options.clipRange === undefined ? ([0, 1] as const) : options.clipRange;
  const rng = options.rng ?? createRng(options.seed ?? 0);
  return {
    kind: "gaussian-noise",
    name: `gaussian-noise(sigma=${sigma})`,
    randomized: true,
    sigma,
    clipRange: clip,
    apply(x: Tensor<"float32">): Tensor<"float32"> {
      const out = new Float32Array(x.data.length);
      for (let i = 0; i < out.length; i++) {
        const v = x.data[i]! + sigma * rng.normal();
        out[i] = clip ? Math.min(clip[1], Math.max(clip[0], v)) : v;
      }
      return float32(x.shape, out);
    },
    backward(_x: Tensor<"float32">, gradOut: Tensor<"float32">): Tensor<"float32"> {
      return gradOut;
    },
  };
}
