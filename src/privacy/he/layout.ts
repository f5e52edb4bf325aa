/**
 * Where values sit in the CKKS slots. Two packings:
 *
 * - "single" (latency): one sample per request, its vector replicated with a power-of-two
 *   period P across all slots, so a rotation by d is a cyclic shift of the vector. Affine
 *   stages use the hybrid diagonal method of Halevi & Shoup (2014) with Juvekar et al.'s
 *   (GAZELLE, 2018) rotate-and-sum for outputs fewer than inputs: m' = 2^⌈log2 m⌉
 *   generalised diagonals over a period Q = max(P, m'), evaluated baby-step/giant-step
 *   (√m' + √m' rotations instead of m'), then log2(Q/m') rotations fold the partial sums,
 *   which leaves the output replicated with period m' — the layout the next stage wants.
 *   A first convolution takes its input im2col-encoded by the client, as TenSEAL does,
 *   but laid out so that no rotation is spent inside the convolution: block j of a
 *   ciphertext holds kernel position k's patch values for every window, repeated once per
 *   output channel; a plaintext multiply per ciphertext and log2(slots/B) rotations sum
 *   the kernel positions and leave the output in flattened NCHW order, replicated.
 * - "batch" (throughput, CryptoNets, Gilad-Bachrach et al. 2016): one ciphertext per
 *   feature, one sample per slot; affine stages are sums of ciphertext × constant
 *   products and need no rotation at all.
 */
import { AegisError } from "../../errors.js";
import type { AffineStage, ConvShape, Stage } from "./model.js";

export type Packing = "single" | "batch";

export type InputEncoding =
  | { kind: "im2col"; conv: ConvShape; blockSize: number; blocksPerCiphertext: number; ciphertexts: number }
  | { kind: "vector"; length: number; period: number }
  | { kind: "features"; features: number };

export type OutputEncoding = { kind: "vector"; length: number; period: number } | { kind: "features"; features: number };

export interface Im2colLayer {
  kind: "im2col";
  blockSize: number;
  reduceSteps: number[];
}

export interface DiagonalLayer {
  kind: "diagonal";
  /** Period of the input vector and of the diagonals. */
  period: number;
  /** Outputs rounded up to a power of two: the diagonals, and the output's period. */
  diagonals: number;
  baby: number;
  giant: number;
  reduceSteps: number[];
}

export type SingleLayer = Im2colLayer | DiagonalLayer;

export const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

function affineStages(stages: readonly Stage[]): AffineStage[] {
  return stages.filter((s): s is AffineStage => s.kind === "affine");
}

/** Slots the single packing needs: the largest block or diagonal period. */
export function slotsNeeded(stages: readonly Stage[]): number {
  const { layers } = singleLayout(stages, 2 ** 30);
  return Math.max(...layers.map((l) => (l.kind === "im2col" ? l.blockSize : l.period)));
}

/** The single packing's layer plans for `slots` slots, and the rotations they use. */
export function singleLayout(
  stages: readonly Stage[],
  slots: number,
): { input: InputEncoding; layers: SingleLayer[]; output: OutputEncoding; steps: number[] } {
  const affine = affineStages(stages);
  const layers: SingleLayer[] = [];
  let input: InputEncoding | undefined;
  let period = 0;
  for (const [i, stage] of affine.entries()) {
    if (i === 0 && stage.conv) {
      const blockSize = nextPow2(stage.outputs);
      if (blockSize > slots) throw tooWide(stage.outputs, slots);
      const blocksPerCiphertext = slots / blockSize;
      const kernel = stage.conv.inChannels * stage.conv.kernel[0] * stage.conv.kernel[1];
      input = { kind: "im2col", conv: shapeOnly(stage.conv), blockSize, blocksPerCiphertext, ciphertexts: Math.ceil(kernel / blocksPerCiphertext) };
      layers.push({ kind: "im2col", blockSize, reduceSteps: doublings(blockSize, slots) });
      period = blockSize;
      continue;
    }
    if (i === 0) {
      period = nextPow2(stage.inputs);
      input = { kind: "vector", length: stage.inputs, period };
    }
    const diagonals = nextPow2(stage.outputs);
    const q = Math.max(period, diagonals);
    if (q > slots) throw tooWide(q, slots);
    const baby = 2 ** Math.ceil(Math.log2(diagonals) / 2);
    layers.push({ kind: "diagonal", period: q, diagonals, baby, giant: diagonals / baby, reduceSteps: doublings(diagonals, q) });
    period = diagonals;
  }
  if (!input) throw new AegisError("BAD_MODEL", "the model has no linear layer");
  const last = affine[affine.length - 1];
  const steps = new Set<number>();
  for (const layer of layers) {
    for (const s of layer.reduceSteps) steps.add(s);
    if (layer.kind === "diagonal") {
      for (let b = 1; b < layer.baby; b++) steps.add(b);
      for (let g = 1; g < layer.giant; g++) steps.add(g * layer.baby);
    }
  }
  return { input, layers, output: { kind: "vector", length: last.outputs, period }, steps: [...steps].sort((a, b) => a - b) };
}

export function batchLayout(stages: readonly Stage[]): { input: InputEncoding; output: OutputEncoding } {
  const affine = affineStages(stages);
  return { input: { kind: "features", features: affine[0].inputs }, output: { kind: "features", features: affine[affine.length - 1].outputs } };
}

/** from, 2·from, … below `to`: the rotations that sum the blocks of a period-`to` vector. */
function doublings(from: number, to: number): number[] {
  const steps: number[] = [];
  for (let s = from; s < to; s *= 2) steps.push(s);
  return steps;
}

function shapeOnly(conv: ConvShape): ConvShape {
  const { inChannels, height, width, outChannels, kernel, stride, pads, outHeight, outWidth } = conv;
  return { inChannels, height, width, outChannels, kernel, stride, pads, outHeight, outWidth };
}

function tooWide(values: number, slots: number): AegisError {
  return new AegisError(
    "UNSUPPORTED",
    `a layer of ${values} values does not fit one ciphertext of ${slots} slots; use --packing batch or a larger --poly-degree`,
  );
}
