/**
 * A model as `aegis he compile` reads it out of ONNX: affine stages (every Gemm, MatMul,
 * Conv, pooling, BatchNorm, bias and scaling between two activations composed into one
 * map) alternating with polynomial activations, ending with an affine stage. This is the
 * whole plaintext semantics of the encrypted circuit; `evaluatePlain` runs it in float64,
 * the reference that encrypted results are compared with.
 */
import { AegisError } from "../../errors.js";
import { evalPoly, type FittedActivation, type Polynomial } from "./polynomial.js";

/** A 2-D convolution's geometry (NCHW, one group), without its weights. */
export interface ConvShape {
  inChannels: number;
  height: number;
  width: number;
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  /** top, left, bottom, right */
  pads: [number, number, number, number];
  outHeight: number;
  outWidth: number;
}

export interface AffineStage {
  kind: "affine";
  inputs: number;
  outputs: number;
  /** outputs × inputs, row-major. */
  weight: Float64Array;
  bias: Float64Array;
  /** Set when the stage is exactly a convolution of its input (weight is then its unrolled matrix). */
  conv?: ConvShape & { kernelWeight: Float64Array };
}

export interface PolyStage {
  kind: "poly";
  coefficients: Polynomial;
  /** "polynomial" when the graph holds it; otherwise the activation it approximates. */
  origin: "polynomial" | FittedActivation;
  /** Input range it was fitted over (fitted activations). */
  range?: [number, number];
}

export type Stage = AffineStage | PolyStage;

export type OutputTransform = "softmax" | "sigmoid" | "none";

/** Patch value of im2col: input index of kernel position k = (c, ky, kx) at window w = (oy, ox), or -1 in the padding. */
export function patchIndex(conv: ConvShape, k: number, w: number): number {
  const [kh, kw] = conv.kernel;
  const c = Math.floor(k / (kh * kw));
  const ky = Math.floor(k / kw) % kh;
  const kx = k % kw;
  const oy = Math.floor(w / conv.outWidth);
  const ox = w % conv.outWidth;
  const y = oy * conv.stride[0] + ky - conv.pads[0];
  const x = ox * conv.stride[1] + kx - conv.pads[1];
  if (y < 0 || x < 0 || y >= conv.height || x >= conv.width) return -1;
  return (c * conv.height + y) * conv.width + x;
}

/** The dense matrix of a convolution ([outC·oh·ow] × [inC·h·w]) from its kernel [outC, inC, kh, kw]. */
export function unrollConv(conv: ConvShape, kernelWeight: Float64Array): Float64Array {
  const windows = conv.outHeight * conv.outWidth;
  const inputs = conv.inChannels * conv.height * conv.width;
  const perKernel = conv.inChannels * conv.kernel[0] * conv.kernel[1];
  const m = new Float64Array(conv.outChannels * windows * inputs);
  for (let o = 0; o < conv.outChannels; o++)
    for (let w = 0; w < windows; w++)
      for (let k = 0; k < perKernel; k++) {
        const i = patchIndex(conv, k, w);
        if (i >= 0) m[(o * windows + w) * inputs + i] += kernelWeight[o * perKernel + k];
      }
  return m;
}

/** Applies an affine stage to `n` rows of x ([n × inputs] → [n × outputs]). */
export function applyAffine(stage: AffineStage, x: Float64Array, n: number): Float64Array {
  const { inputs, outputs, weight, bias } = stage;
  const y = new Float64Array(n * outputs);
  for (let s = 0; s < n; s++) {
    const row = x.subarray(s * inputs, (s + 1) * inputs);
    for (let o = 0; o < outputs; o++) {
      let acc = bias[o];
      const w = o * inputs;
      for (let i = 0; i < inputs; i++) acc += weight[w + i] * row[i];
      y[s * outputs + o] = acc;
    }
  }
  return y;
}

/**
 * Runs the stages on `n` samples. `observe` sees each stage's input (calibration);
 * `activation` overrides how a poly stage is computed (the original ReLU, for ranges).
 */
export function evaluatePlain(
  stages: readonly Stage[],
  x: Float64Array,
  n: number,
  options: {
    observe?: (index: number, values: Float64Array) => void;
    activation?: (index: number, stage: PolyStage) => ((v: number) => number) | undefined;
  } = {},
): Float64Array {
  let h = x;
  for (const [index, stage] of stages.entries()) {
    options.observe?.(index, h);
    if (stage.kind === "affine") {
      if (h.length !== n * stage.inputs) throw new AegisError("SHAPE_MISMATCH", `stage ${index} takes ${stage.inputs} values per sample, got ${h.length / n}`);
      h = applyAffine(stage, h, n);
    } else {
      const f = options.activation?.(index, stage) ?? ((v: number) => evalPoly(stage.coefficients, v));
      h = h.map(f);
    }
  }
  return h;
}

/** Multiplicative depth: one level per affine stage, degree − 1 per activation (Horner with the leading coefficient folded into the next stage). */
export function depthOf(stages: readonly Stage[]): number {
  return stages.reduce((d, s) => d + (s.kind === "affine" ? 1 : s.coefficients.length - 2), 0);
}
