/**
 * Fast Gradient (Sign) Method — Goodfellow, Shlens & Szegedy, "Explaining and Harnessing
 * Adversarial Examples", ICLR 2015. One step of size ε along the sign of the loss
 * gradient (L∞), or along the gradient scaled to unit L2 norm (the FGM variant),
 * clipped to the valid input range. Foolbox-style: one gradient, many epsilons.
 */
import type { Labels, LossGradient, ModelInfo } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";

export interface FgsmOptions {
  epsilons: readonly number[];
  norm?: "inf" | "2";
  /** Move toward `y` (a target class per sample) instead of away from it. */
  targeted?: boolean;
}

export async function fgsm(model: LossGradient & ModelInfo, x: Tensor<"float32">, y: Labels, options: FgsmOptions): Promise<Tensor<"float32">[]> {
  for (const eps of options.epsilons) {
    if (!(eps >= 0)) throw new AegisError("BAD_OPTION", `epsilon must be ≥ 0, got ${eps}`);
  }
  const grad = await model.lossGradient(x, y);
  const direction = options.norm === "2" ? unitL2(grad) : signOf(grad);
  const sign = options.targeted ? -1 : 1;
  const [lo, hi] = model.clipRange;
  return options.epsilons.map((eps) => {
    const adv = new Float32Array(x.data.length);
    for (let i = 0; i < adv.length; i++) adv[i] = Math.min(hi, Math.max(lo, x.data[i] + sign * eps * direction[i]));
    return float32(x.shape, adv);
  });
}

function signOf(g: Tensor<"float32">): Float32Array {
  return Float32Array.from(g.data, Math.sign);
}

function unitL2(g: Tensor<"float32">): Float32Array {
  const row = sizeOf(g.shape.slice(1));
  const out = new Float32Array(g.data.length);
  for (let start = 0; start < out.length; start += row) {
    let norm = 0;
    for (let i = start; i < start + row; i++) norm += g.data[i] * g.data[i];
    norm = Math.sqrt(norm) || 1;
    for (let i = start; i < start + row; i++) out[i] = g.data[i] / norm;
  }
  return out;
}
