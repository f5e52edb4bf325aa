/**
 * JPEG compression as an input defence (Dziugaite, Ghahramani & Roy 2016, "A study of the
 * effect of JPG compression on adversarial images"; Das et al. 2017, "Keeping the Bad Guys
 * Out"). The baseline JPEG transform is applied in memory: values are scaled to 0–255,
 * colour images go to YCbCr (JFIF), each channel is cut into 8 × 8 blocks (edges replicated),
 * transformed by the 2-D DCT-II, divided by the standard quantisation tables of ITU-T T.81
 * Annex K scaled to the quality with the IJG formula, rounded, multiplied back, inverted and
 * rounded to whole 0–255 levels. The default quality 75 is the setting of Guo et al. 2018
 * (Das et al. evaluate a range of qualities). Deviations: no chroma subsampling and no
 * entropy coding (lossless, so it changes nothing); 1- and 3-channel images only.
 * Backward: the identity (BPDA, Athalye et al. 2018); the true derivative (`naiveBackward`)
 * is zero, as everywhere after rounding.
 */
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Preprocessor } from "../types.js";
import { imageLayout } from "./spatial-smoothing.js";

export interface JpegCompressionOptions {
  /** JPEG quality 1–100 (default 75). */
  quality?: number;
  /** Range mapped to 0–255 (default [0, 1]). */
  clipRange?: readonly [number, number];
  /** Samples are [C, H, W] (default) rather than [H, W, C]. */
  channelsFirst?: boolean;
}

export interface JpegCompression extends Preprocessor {
  apply(x: Tensor<"float32">): Tensor<"float32">;
  readonly kind: "jpeg-compression";
  readonly quality: number;
}

// ITU-T T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance), in row-major order.
const LUMINANCE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103,
  77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMINANCE = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/** The IJG scaling of a base table to a quality (libjpeg's jpeg_quality_scaling). */
export function quantisationTable(base: readonly number[], quality: number): Float64Array {
  const scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  return Float64Array.from(base, (q) => Math.min(255, Math.max(1, Math.floor((q * scale + 50) / 100))));
}

// cos((2x + 1)uπ / 16) · C(u)/2, the orthonormal 8-point DCT-II basis.
const BASIS = new Float64Array(64);
for (let u = 0; u < 8; u++) for (let x = 0; x < 8; x++) BASIS[u * 8 + x] = (u === 0 ? Math.SQRT1_2 : 1) * 0.5 * Math.cos(((2 * x + 1) * u * Math.PI) / 16);

/** Quantises one 8 × 8 block (level-shifted, in place) with the table. */
function quantiseBlock(block: Float64Array, table: Float64Array, scratch: Float64Array): void {
  // Rows then columns, forward.
  for (let r = 0; r < 8; r++)
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += BASIS[u * 8 + x]! * block[r * 8 + x]!;
      scratch[r * 8 + u] = s;
    }
  for (let v = 0; v < 8; v++)
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += BASIS[v * 8 + y]! * scratch[y * 8 + u]!;
      const q = table[v * 8 + u]!;
      block[v * 8 + u] = Math.round(s / q) * q;
    }
  // Inverse: columns then rows.
  for (let y = 0; y < 8; y++)
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let v = 0; v < 8; v++) s += BASIS[v * 8 + y]! * block[v * 8 + u]!;
      scratch[y * 8 + u] = s;
    }
  for (let y = 0; y < 8; y++)
    for (let x = 0; x < 8; x++) {
      let s = 0;
      for (let u = 0; u < 8; u++) s += BASIS[u * 8 + x]! * scratch[y * 8 + u]!;
      block[y * 8 + x] = s;
    }
}

export function jpegCompression(options: JpegCompressionOptions = {}): JpegCompression {
  const quality = options.quality ?? 75;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new AegisError("BAD_OPTION", `JPEG compression needs an integer quality between 1 and 100, got ${quality}.`);
  }
  const [lo, hi] = options.clipRange ?? [0, 1];
  if (!(hi > lo)) throw new AegisError("BAD_OPTION", `JPEG compression needs a clip range [lo, hi] with lo < hi, got [${lo}, ${hi}].`);
  const channelsFirst = options.channelsFirst ?? true;
  const luminance = quantisationTable(LUMINANCE, quality);
  const chrominance = quantisationTable(CHROMINANCE, quality);
  return {
    kind: "jpeg-compression",
    name: `jpeg-compression(quality=${quality})`,
    randomized: false,
    quality,
    apply(x: Tensor<"float32">): Tensor<"float32"> {
      const { channels, height, width } = imageLayout(x.shape, channelsFirst, "JPEG compression");
      if (channels !== 1 && channels !== 3)
        throw new AegisError("UNSUPPORTED", `JPEG compression takes 1- or 3-channel images; these have ${channels} channels.`);
      const plane = height * width;
      const at = (c: number, p: number) => (channelsFirst ? c * plane + p : p * channels + c);
      const toLevel = 255 / (hi - lo);
      const out = new Float32Array(x.data.length);
      const planes = Array.from({ length: channels }, () => new Float64Array(plane));
      const block = new Float64Array(64);
      const scratch = new Float64Array(64);
      const n = x.shape[0]!;
      for (let s = 0; s < n; s++) {
        const base = s * channels * plane;
        for (let p = 0; p < plane; p++) {
          const v = (c: number) => Math.min(255, Math.max(0, (x.data[base + at(c, p)]! - lo) * toLevel));
          if (channels === 1) planes[0]![p] = v(0);
          else {
            const [r, g, b] = [v(0), v(1), v(2)];
            planes[0]![p] = 0.299 * r + 0.587 * g + 0.114 * b;
            planes[1]![p] = -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
            planes[2]![p] = 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
          }
        }
        for (const [c, values] of planes.entries()) {
          const table = c === 0 ? luminance : chrominance;
          for (let by = 0; by < height; by += 8) {
            for (let bx = 0; bx < width; bx += 8) {
              for (let i = 0; i < 64; i++) {
                const yy = Math.min(height - 1, by + (i >> 3));
                const xx = Math.min(width - 1, bx + (i & 7));
                block[i] = values[yy * width + xx]! - 128;
              }
              quantiseBlock(block, table, scratch);
              for (let i = 0; i < 64; i++) {
                const yy = by + (i >> 3);
                const xx = bx + (i & 7);
                if (yy < height && xx < width) values[yy * width + xx] = block[i]! + 128;
              }
            }
          }
        }
        for (let p = 0; p < plane; p++) {
          const level = (v: number) => Math.min(255, Math.max(0, Math.round(v)));
          const write = (c: number, v: number) => {
            out[base + at(c, p)] = lo + level(v) / toLevel;
          };
          if (channels === 1) write(0, planes[0]![p]!);
          else {
            const [yl, cb, cr] = [planes[0]![p]!, planes[1]![p]! - 128, planes[2]![p]! - 128];
            write(0, yl + 1.402 * cr);
            write(1, yl - 0.344136 * cb - 0.714136 * cr);
            write(2, yl + 1.772 * cb);
          }
        }
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
