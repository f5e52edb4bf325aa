/**
 * Arithmetic shared by the sliding-window rules (Conv, ConvTranspose, MaxPool,
 * AveragePool) and small emitters the nn rules have in common. Not a rule itself.
 *
 * Spatial shapes are static (see gradient.ts), so explicit pads, output paddings and
 * crops are all computed here once, and the emitted nodes carry no auto_pad.
 */
import type { GraphBuilder } from "../../onnx/builder.js";
import { type Attribute, attr, DataType, dataTypeName, getInt, getInts, getString, type Node } from "../../onnx/ir.js";
import { unsupported, type VjpContext } from "../rule.js";

export interface Window {
  /** Undilated kernel size per spatial axis. */
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Explicit pads at the start and the end of each spatial axis. */
  begin: number[];
  end: number[];
}

/** Span of a dilated kernel along axis i. */
export function extent(w: Window, i: number): number {
  return (w.kernel[i] - 1) * w.dilations[i] + 1;
}

/**
 * Resolves strides, dilations and pads (auto_pad included) of a forward window op
 * whose spatial input and output sizes are `inSpatial` and `outSpatial`.
 */
export function forwardWindow(node: Node, kernel: readonly number[], inSpatial: readonly number[], outSpatial: readonly number[]): Window {
  const r = kernel.length;
  const strides = getInts(node, "strides") ?? new Array<number>(r).fill(1);
  const dilations = getInts(node, "dilations") ?? new Array<number>(r).fill(1);
  if (strides.length !== r || dilations.length !== r || inSpatial.length !== r || outSpatial.length !== r) {
    unsupported(node, `strides/dilations that do not match the ${r} spatial axes of the kernel`);
  }
  const w: Window = { kernel: [...kernel], strides, dilations, begin: new Array<number>(r).fill(0), end: new Array<number>(r).fill(0) };
  const autoPad = getString(node, "auto_pad", "NOTSET");
  if (autoPad === "NOTSET") {
    const pads = getInts(node, "pads") ?? new Array<number>(2 * r).fill(0);
    if (pads.length !== 2 * r) unsupported(node, `pads of length ${pads.length} for ${r} spatial axes`);
    w.begin = pads.slice(0, r);
    w.end = pads.slice(r);
  } else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    // ONNX: total = (out − 1)·stride + span − in; the odd pixel goes at the end for UPPER.
    for (let i = 0; i < r; i++) {
      const total = Math.max(0, (outSpatial[i] - 1) * strides[i] + extent(w, i) - inSpatial[i]);
      w.begin[i] = autoPad === "SAME_UPPER" ? Math.floor(total / 2) : Math.ceil(total / 2);
      w.end[i] = total - w.begin[i];
    }
  } else if (autoPad !== "VALID") {
    unsupported(node, `auto_pad "${autoPad}"`);
  }
  return w;
}

export interface ConvGeometry {
  win: Window;
  group: number;
  inSp: number[];
  outSp: number[];
  /** Batch size. */
  n: number;
  /** Input and output channels per group. */
  cg: number;
  mg: number;
  /** Kernel taps and output positions (products of the kernel and output spatial sizes). */
  taps: number;
  positions: number;
}

/** The window and channel grouping of a Conv node, checked against its probed shapes. */
export function convGeometry(ctx: VjpContext): ConvGeometry {
  const { node } = ctx;
  const [x, w] = node.inputs;
  const xs = ctx.shape(x);
  const ws = ctx.shape(w);
  const ys = ctx.shape(node.outputs[0]);
  const group = getInt(node, "group", 1);
  const kernel = ws.slice(2);
  const declared = getInts(node, "kernel_shape");
  if (declared?.some((k, i) => k !== kernel[i])) unsupported(node, "a kernel_shape that differs from the weight's shape");
  if (xs[1] !== ws[1] * group || ws[0] % group !== 0) unsupported(node, `group=${group} with ${xs[1]} input and ${ws[0]} output channels`);
  const inSp = xs.slice(2);
  const outSp = ys.slice(2);
  const win = forwardWindow(node, kernel, inSp, outSp);
  for (let i = 0; i < kernel.length; i++) {
    if (windowCount(inSp[i], extent(win, i), win.strides[i], win.begin[i], win.end[i]) !== outSp[i]) {
      unsupported(node, `output size ${outSp[i]} on spatial axis ${i} that its pads and strides do not explain`);
    }
  }
  return { win, group, inSp, outSp, n: xs[0], cg: xs[1] / group, mg: ws[0] / group, taps: product(kernel), positions: product(outSp) };
}

/** Output size of a convolution-like window along one axis (floor mode). */
export function windowCount(size: number, span: number, stride: number, begin: number, end: number): number {
  return Math.floor((size + begin + end - span) / stride) + 1;
}

/**
 * The adjoint of a window gather: a ConvTranspose that spreads `dy` (spatial `outSpatial`)
 * back through `weight` onto exactly `inSpatial`. Tail pads and output_padding are
 * chosen so the output needs no crop: windows that end past the input (ceil_mode, floor
 * remainders) are cut by the tail pad, rows no window reaches are zero-filled by
 * output_padding.
 */
export function spreadBack(
  b: GraphBuilder,
  dy: string,
  weight: string,
  w: Window,
  group: number,
  inSpatial: readonly number[],
  outSpatial: readonly number[],
): string {
  const r = w.kernel.length;
  const tail: number[] = [];
  const outputPadding: number[] = [];
  for (let i = 0; i < r; i++) {
    const full = (outSpatial[i] - 1) * w.strides[i] + extent(w, i);
    const over = full - w.begin[i] - inSpatial[i];
    tail.push(Math.max(0, over));
    outputPadding.push(Math.max(0, -over));
  }
  const attrs: Record<string, Attribute> = {
    kernel_shape: attr.ints(w.kernel),
    strides: attr.ints(w.strides),
    dilations: attr.ints(w.dilations),
    pads: attr.ints([...w.begin, ...tail]),
  };
  if (group !== 1) attrs.group = attr.int(group);
  if (outputPadding.some((p) => p > 0)) attrs.output_padding = attr.ints(outputPadding);
  return b.op("ConvTranspose", [dy, weight], attrs);
}

/**
 * im2col: the window's patches of `x` [N, C, …in] as [N, C·∏kernel, ∏out], channel-major
 * and kernel offset minor (the order in which a weight [M, C, …kernel] flattens): a
 * depthwise Conv whose C·∏kernel one-hot kernels each copy one offset of one channel. (The
 * same one-hot kernels run on every channel as a separate image measured 1.6× slower in
 * ONNX Runtime, which converts that Conv to its blocked layout and back; Slices and a
 * Concat measured 1.8× slower.) A 1×1 window at stride 1 without pads is x itself.
 * Conv's weight gradient and its per-example gradients are then MatMuls.
 */
export function unfold(b: GraphBuilder, node: Node, x: string, dims: readonly number[], dataType: DataType, w: Window, outSpatial: readonly number[]): string {
  const [n, c] = dims;
  const taps = product(w.kernel);
  const positions = product(outSpatial);
  const identity = taps === 1 && w.strides.every((s) => s === 1) && [...w.begin, ...w.end].every((p) => p === 0);
  if (identity) return b.reshape(x, [n, c, positions]);
  const oneHot = new Float32Array(c * taps * taps);
  for (let k = 0; k < c * taps; k++) oneHot[k * taps + (k % taps)] = 1;
  const kernels = floatConst(b, node, dataType, [c * taps, 1, ...w.kernel], oneHot);
  const patches = b.op("Conv", [x, kernels], {
    strides: attr.ints(w.strides),
    dilations: attr.ints(w.dilations),
    pads: attr.ints([...w.begin, ...w.end]),
    group: attr.int(c),
  });
  return b.reshape(patches, [n, c * taps, positions]);
}

/** The patches of a Conv node's input per group: [N, G, Cg·∏kernel, ∏out]. */
export function groupedPatches(ctx: VjpContext, g: ConvGeometry): string {
  const x = ctx.node.inputs[0];
  const cols = unfold(ctx.b, ctx.node, x, ctx.shape(x), ctx.dataType(x), g.win, g.outSp);
  return ctx.b.reshape(cols, [g.n, g.group, g.cg * g.taps, g.positions]);
}

/**
 * Transpose, or a Reshape when the permutation only moves axes of size 1 (no data moves,
 * e.g. swapping batch and channels of a single-channel image).
 */
export function permute(b: GraphBuilder, x: string, dims: readonly number[], perm: readonly number[]): string {
  if (perm.every((p, i) => p === i)) return x;
  const moved = perm.filter((p) => dims[p] !== 1);
  if (moved.every((p, i) => i === 0 || moved[i - 1] < p))
    return b.reshape(
      x,
      perm.map((p) => dims[p]),
    );
  return b.transpose(x, perm);
}

/** Reshape unless the shape is already `to`. */
export function reshapeIf(b: GraphBuilder, x: string, from: readonly number[], to: readonly number[]): string {
  return sameDims(from, to) ? x : b.reshape(x, to);
}

export function sameDims(a: readonly number[], c: readonly number[]): boolean {
  return a.length === c.length && a.every((d, i) => d === c[i]);
}

export function product(dims: readonly number[]): number {
  return dims.reduce((a, c) => a * c, 1);
}

/** [0, 2, 3, …, rank−1]: every axis but the channel axis. */
export function axesButChannel(rank: number): number[] {
  return [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
}

/** Sums a gradient of shape `from` to `to`, which broadcast to it under numpy rules. */
export function sumTo(b: GraphBuilder, g: string, from: readonly number[], to: readonly number[]): string {
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let j = 0; j < from.length; j++) if (j < lead || (to[j - lead] === 1 && from[j] !== 1)) axes.push(j);
  if (axes.length === 0) return reshapeIf(b, g, from, to);
  // Only leading axes summed: keepdims=0 lands on `to` directly.
  if (axes.every((a) => a < lead) && axes.length === lead) return b.reduceSum(g, axes, false);
  return b.reshape(b.reduceSum(g, axes, true), to);
}

/** A floating-point constant of the given element type (float or double). */
export function floatConst(b: GraphBuilder, node: Node, dataType: DataType, dims: readonly number[], values: ArrayLike<number>): string {
  if (dataType === DataType.DOUBLE) return b.initializer(dataType, [...dims], Float64Array.from(values), "const");
  if (dataType === DataType.FLOAT) return b.initializer(dataType, [...dims], Float32Array.from(values), "const");
  return unsupported(node, `element type ${dataTypeName(dataType)}`);
}

/**
 * One-hot rows (1 at each index, 0 elsewhere) along `axis`, in `dataType`. ONNX Runtime
 * has OneHot kernels for int64 indices with float values but not for every combination,
 * so indices are widened and other float types cast afterwards.
 */
export function oneHot(b: GraphBuilder, indices: string, indicesType: DataType, depth: number, axis: number, dataType: DataType): string {
  const idx = indicesType === DataType.INT64 ? indices : b.cast(indices, DataType.INT64);
  const values = b.initializer(DataType.FLOAT, [2], Float32Array.of(0, 1), "onehot_values");
  const h = b.op("OneHot", [idx, b.int64s([depth]), values], { axis: attr.int(axis) });
  return dataType === DataType.FLOAT ? h : b.cast(h, dataType);
}

/**
 * A BatchNormalization that normalises with its batch's statistics: training_mode=1 from
 * opset 14, running-statistic outputs before.
 */
export function isTrainingBatchNorm(node: Node): boolean {
  return getInt(node, "training_mode", 0) === 1 || node.outputs.slice(1).some((o) => o);
}

/**
 * The batch's x̂ = (X − μ)·r and r = 1/√(σ² + ε) per channel, σ² biased, with r shaped to
 * broadcast over X. (Not a unit-scale BatchNormalization in training mode: ONNX Runtime's
 * graph optimizer gets that node wrong when its scale and statistics are constants.)
 */
export function batchStatistics(b: GraphBuilder, x: string, rank: number, dataType: DataType, epsilon: number): { xhat: string; r: string } {
  const axes = axesButChannel(rank);
  const centred = b.op("Sub", [x, b.reduceMean(x, axes, true)]);
  const variance = b.reduceMean(b.op("Mul", [centred, centred]), axes, true);
  const r = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [variance, b.scalar(epsilon, dataType)])])]);
  return { xhat: b.op("Mul", [centred, r]), r };
}
