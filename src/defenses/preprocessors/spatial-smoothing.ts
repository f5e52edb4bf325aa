/**
 * Spatial smoothing by a median filter (Xu, Evans & Qi 2018, "Feature Squeezing", NDSS):
 * each value is replaced by the median of the windowSize × windowSize window around it, per
 * channel. As in the paper (SciPy's `median_filter`, also ART's SpatialSmoothing) borders are
 * padded in SciPy's "reflect" mode (d c b a | a b c d | d c b a), the window of an even size
 * reaches one more pixel up/left than down/right, and an even number of values gives the upper
 * of the two middle ones (no averaging, so the output is always one of the inputs). The default
 * window, 2, is the paper's MNIST setting. The backward pass is the identity (BPDA, Athalye,
 * Carlini & Wagner 2018); the true derivative, a sparse selection of the median pixel, is
 * `naiveBackward`.
 */
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Preprocessor } from "../types.js";

export interface SpatialSmoothingOptions {
  /** Side of the square window, 2–15 (default 2, Xu et al.'s MNIST smoother). */
  windowSize?: number;
  /** Samples are [C, H, W] (default) rather than [H, W, C]; [H, W] samples are one channel. */
  channelsFirst?: boolean;
}

export interface SpatialSmoothing extends Preprocessor {
  apply(x: Tensor<"float32">): Tensor<"float32">;
  readonly kind: "spatial-smoothing";
  readonly windowSize: number;
  readonly channelsFirst: boolean;
}

/** Image geometry of a batch: channels, height, width and where channels sit. */
export interface ImageLayout {
  channels: number;
  height: number;
  width: number;
  channelsFirst: boolean;
}

export function imageLayout(shape: readonly number[], channelsFirst: boolean, who: string): ImageLayout {
  if (shape.length === 3) return { channels: 1, height: shape[1]!, width: shape[2]!, channelsFirst: true };
  if (shape.length === 4) {
    return channelsFirst
      ? { channels: shape[1]!, height: shape[2]!, width: shape[3]!, channelsFirst }
      : { channels: shape[3]!, height: shape[1]!, width: shape[2]!, channelsFirst };
  }
  throw new AegisError("SHAPE_MISMATCH", `${who} needs image batches [N, C, H, W], [N, H, W, C] or [N, H, W]; got [${shape.join(", ")}].`);
}

/** SciPy "reflect" (half-sample symmetric) index into [0, n). */
function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

/**
 * For each pixel (row-major over H × W), the flat indices h·W + w of the windowSize² pixels of
 * its window after reflect padding: a table [H·W, windowSize²] shared with the ONNX bake.
 */
export function medianWindowIndices(height: number, width: number, windowSize: number): Int32Array {
  const k = windowSize * windowSize;
  const before = Math.floor(windowSize / 2);
  const table = new Int32Array(height * width * k);
  let at = 0;
  for (let h = 0; h < height; h++) {
    for (let w = 0; w < width; w++) {
      for (let dh = 0; dh < windowSize; dh++) {
        const sh = reflectIndex(h + dh - before, height);
        for (let dw = 0; dw < windowSize; dw++) table[at++] = sh * width + reflectIndex(w + dw - before, width);
      }
    }
  }
  return table;
}

/** Index, in ascending order, of the value the filter keeps: the upper median for an even count. */
export function medianRank(windowSize: number): number {
  return Math.floor((windowSize * windowSize) / 2);
}

export function spatialSmoothing(options: SpatialSmoothingOptions = {}): SpatialSmoothing {
  const windowSize = options.windowSize ?? 2;
  if (!Number.isInteger(windowSize) || windowSize < 2 || windowSize > 15) {
    throw new AegisError("BAD_OPTION", `spatial smoothing needs an integer window size between 2 and 15, got ${windowSize}.`);
  }
  const channelsFirst = options.channelsFirst ?? true;
  const k = windowSize * windowSize;
  const rank = medianRank(windowSize);
  let cached: { height: number; width: number; table: Int32Array } | undefined;
  return {
    kind: "spatial-smoothing",
    name: `spatial-smoothing(window=${windowSize})`,
    randomized: false,
    windowSize,
    channelsFirst,
    apply(x: Tensor<"float32">): Tensor<"float32"> {
      const out = new Float32Array(x.data.length);
      forEachMedian(x, (target, _source, median) => {
        out[target] = median;
      });
      return float32(x.shape, out);
    },
    backward(_x: Tensor<"float32">, gradOut: Tensor<"float32">): Tensor<"float32"> {
      return gradOut;
    },
    naiveBackward(x: Tensor<"float32">, gradOut: Tensor<"float32">): Tensor<"float32"> {
      // The median's derivative routes each output's gradient to the input it selected.
      const grad = new Float32Array(x.data.length);
      forEachMedian(x, (target, source) => {
        grad[source] += gradOut.data[target]!;
      });
      return float32(x.shape, grad);
    },
  };

  /** Calls `visit(output index, index of the selected input, median)` for every value of the batch. */
  function forEachMedian(x: Tensor<"float32">, visit: (target: number, source: number, median: number) => void): void {
    const { channels, height, width } = imageLayout(x.shape, channelsFirst, "spatial smoothing");
    if (cached?.height !== height || cached.width !== width) cached = { height, width, table: medianWindowIndices(height, width, windowSize) };
    const table = cached.table;
    const plane = height * width;
    // Channels-first: a channel's pixels are contiguous; channels-last: strided by C.
    const pixelStride = channelsFirst ? 1 : channels;
    const channelStride = channelsFirst ? plane : 1;
    const window = new Float32Array(k);
    const n = x.shape[0]!;
    for (let s = 0; s < n; s++) {
      for (let c = 0; c < channels; c++) {
        const base = s * channels * plane + c * channelStride;
        for (let p = 0; p < plane; p++) {
          for (let j = 0; j < k; j++) window[j] = x.data[base + table[p * k + j]! * pixelStride]!;
          window.sort();
          const median = window[rank]!;
          let j = 0;
          while (j < k - 1 && x.data[base + table[p * k + j]! * pixelStride] !== median) j++;
          visit(base + p * pixelStride, base + table[p * k + j]! * pixelStride, median);
        }
      }
    }
  }
}
