/**
 * Known shifts to measure a drift detector's power with (tests, bench, and a user's own
 * acceptance checks): images rotated about their centre (bilinear, zero outside), Gaussian
 * pixel noise clipped to the valid range, and a class-prior shift that makes a share of the
 * batch one class.
 */
import type { Rng } from "../../data/index.js";
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";

/** [N, C, H, W] (or [N, H, W]) images rotated by `degrees` counter-clockwise. */
export function rotateImages(x: Tensor<"float32">, degrees: number): Tensor<"float32"> {
  const [h, w] = x.shape.slice(-2);
  const planes = x.data.length / (h * w);
  const out = new Float32Array(x.data.length);
  const cos = Math.cos((degrees * Math.PI) / 180);
  const sin = Math.sin((degrees * Math.PI) / 180);
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  const at = (base: number, y: number, xx: number) => (y >= 0 && y < h && xx >= 0 && xx < w ? x.data[base + y * w + xx] : 0);
  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        // The source of each output pixel: the inverse rotation.
        const sx = cos * (xx - cx) + sin * (y - cy) + cx;
        const sy = -sin * (xx - cx) + cos * (y - cy) + cy;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        out[base + y * w + xx] =
          (1 - fy) * ((1 - fx) * at(base, y0, x0) + fx * at(base, y0, x0 + 1)) + fy * ((1 - fx) * at(base, y0 + 1, x0) + fx * at(base, y0 + 1, x0 + 1));
      }
    }
  }
  return float32(x.shape, out);
}

/** x + N(0, σ²) per value, clipped to [lo, hi]. */
export function addGaussianNoise(x: Tensor<"float32">, sigma: number, rng: Rng, clip: readonly [number, number] = [0, 1]): Tensor<"float32"> {
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(clip[1], Math.max(clip[0], x.data[i] + sigma * rng.normal()));
  return float32(x.shape, out);
}

/** Rows of a batch of `size` where a `share` of them are of class `target` and the rest drawn from the other classes. */
export function priorShiftRows(labels: ArrayLike<number>, target: number, share: number, size: number, rng: Rng): number[] {
  const of = Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] === target);
  const rest = Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] !== target);
  const wanted = Math.round(share * size);
  if (of.length < wanted || rest.length < size - wanted)
    throw new AegisError("BAD_DATA", `not enough rows of class ${target} or of the others for a batch of ${size}`);
  return rng.shuffle([...rng.shuffle(of).slice(0, wanted), ...rng.shuffle(rest).slice(0, size - wanted)]);
}
