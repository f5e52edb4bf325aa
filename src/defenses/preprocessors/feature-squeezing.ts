/**
 * Feature squeezing by colour-bit-depth reduction (Xu, Evans & Qi 2018, "Feature Squeezing:
 * Detecting Adversarial Examples in Deep Neural Networks", NDSS): each value is rounded to
 * one of 2^bitDepth evenly spaced levels of the clip range. The default is the paper's MNIST
 * setting, 1 bit. Rounding is half-to-even (NumPy's `rint`, ONNX `Round`), each step is
 * computed in float32 so that the ONNX graph of onnx-bake.ts gives bit-identical results,
 * and the backward pass is the identity (BPDA, Athalye, Carlini & Wagner 2018), since the
 * true derivative (`naiveBackward`) is zero almost everywhere.
 */
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Preprocessor } from "../types.js";

export interface FeatureSqueezingOptions {
  /** Bits per value, 1–16 (default 1, Xu et al.'s MNIST squeezer). */
  bitDepth?: number;
  /** Range the levels span (default [0, 1]). */
  clipRange?: readonly [number, number];
}

export interface FeatureSqueezing extends Preprocessor {
  apply(x: Tensor<"float32">): Tensor<"float32">;
  readonly kind: "feature-squeezing";
  readonly bitDepth: number;
  readonly clipRange: readonly [number, number];
  /** (2^bitDepth − 1) / (hi − lo) as float32: values are multiplied by it, rounded and divided back. */
  readonly scale: number;
}

/** Rounds half to even, as NumPy's rint and ONNX's Round do. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function featureSqueezing(options: FeatureSqueezingOptions = {}): FeatureSqueezing {
  const bitDepth = options.bitDepth ?? 1;
  if (!Number.isInteger(bitDepth) || bitDepth < 1 || bitDepth > 16) {
    throw new AegisError("BAD_OPTION", `feature squeezing needs an integer bit depth between 1 and 16, got ${bitDepth}.`);
  }
  const clipRange = options.clipRange ?? [0, 1];
  const [lo, hi] = clipRange;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) {
    throw new AegisError("BAD_OPTION", `feature squeezing needs a clip range [lo, hi] with lo < hi, got [${lo}, ${hi}].`);
  }
  const fr = Math.fround;
  const low = fr(lo);
  const scale = fr((2 ** bitDepth - 1) / (hi - lo));
  return {
    kind: "feature-squeezing",
    name: `feature-squeezing(bits=${bitDepth})`,
    randomized: false,
    bitDepth,
    clipRange: [lo, hi],
    scale,
    apply(x: Tensor<"float32">): Tensor<"float32"> {
      const out = new Float32Array(x.data.length);
      for (let i = 0; i < out.length; i++) {
        // Sub, Mul, Round, Div, Add — the same float32 operations as the baked graph.
        const level = roundHalfEven(fr(fr(x.data[i]! - low) * scale));
        out[i] = fr(fr(level / scale) + low);
      }
      return float32(x.shape, out);
    },
    backward(_x: Tensor<"float32">, gradOut: Tensor<"float32">): Tensor<"float32"> {
      return gradOut;
    },
    naiveBackward(x: Tensor<"float32">): Tensor<"float32"> {
      return float32(x.shape);
    },
  };
}
