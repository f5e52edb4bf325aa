/**
 * Samples as PNG data URIs for the self-contained HTML report: the original, the
 * adversarial example, and the perturbation amplified to the full colour range (blue
 * where a value went down, red where it went up, white where unchanged).
 */
import { PNG } from "pngjs";

export interface ImageLayout {
  height: number;
  width: number;
  channels: 1 | 3;
  /** Channels first ([C, H, W]) or last ([H, W, C]). */
  channelsFirst: boolean;
}

/** How a sample of this shape is drawn, or null when it is not an image (tabular data). */
export function imageLayout(shape: readonly number[]): ImageLayout | null {
  const big = (d: number) => d >= 8;
  if (shape.length === 2 && big(shape[0]) && big(shape[1])) return { height: shape[0], width: shape[1], channels: 1, channelsFirst: true };
  if (shape.length !== 3) return null;
  const [a, b, c] = shape;
  if ((a === 1 || a === 3) && big(b) && big(c)) return { height: b, width: c, channels: a, channelsFirst: true };
  if ((c === 1 || c === 3) && big(a) && big(b)) return { height: a, width: b, channels: c, channelsFirst: false };
  return null;
}

function valueAt(data: ArrayLike<number>, offset: number, layout: ImageLayout, y: number, x: number, ch: number): number {
  const { height, width, channels } = layout;
  return layout.channelsFirst ? data[offset + (ch * height + y) * width + x] : data[offset + (y * width + x) * channels + ch];
}

function encode(layout: ImageLayout, pixel: (y: number, x: number) => [number, number, number]): string {
  const png = new PNG({ width: layout.width, height: layout.height });
  for (let y = 0; y < layout.height; y++) {
    for (let x = 0; x < layout.width; x++) {
      const [r, g, b] = pixel(y, x);
      const k = (y * layout.width + x) * 4;
      png.data[k] = r;
      png.data[k + 1] = g;
      png.data[k + 2] = b;
      png.data[k + 3] = 255;
    }
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString("base64")}`;
}

const byte = (v: number) => Math.max(0, Math.min(255, Math.round(v * 255)));

/** The sample at `offset`, scaled from the clip range to 0..255. */
export function samplePng(data: Float32Array, offset: number, layout: ImageLayout, clipRange: readonly [number, number]): string {
  const [lo, hi] = clipRange;
  const scale = hi > lo ? 1 / (hi - lo) : 1;
  return encode(layout, (y, x) => {
    if (layout.channels === 1) {
      const v = byte((valueAt(data, offset, layout, y, x, 0) - lo) * scale);
      return [v, v, v];
    }
    return [0, 1, 2].map((ch) => byte((valueAt(data, offset, layout, y, x, ch) - lo) * scale)) as [number, number, number];
  });
}

/** adversarial − original, divided by its largest magnitude so that even a faint perturbation is visible. */
export function perturbationPng(adversarial: Float32Array, original: Float32Array, offset: number, layout: ImageLayout): string {
  const size = layout.height * layout.width * layout.channels;
  let max = 0;
  for (let k = offset; k < offset + size; k++) max = Math.max(max, Math.abs(adversarial[k] - original[k]));
  const amplify = max > 0 ? 1 / max : 0;
  return encode(layout, (y, x) => {
    // Colour images: the channel mean, so the map shows where the attack acted.
    let d = 0;
    for (let ch = 0; ch < layout.channels; ch++) d += valueAt(adversarial, offset, layout, y, x, ch) - valueAt(original, offset, layout, y, x, ch);
    const t = Math.max(-1, Math.min(1, (d / layout.channels) * amplify));
    // White at 0, towards red (#d7301f) for +1 and blue (#2166ac) for −1.
    const [r, g, b] = t >= 0 ? [215, 48, 31] : [33, 102, 172];
    const a = Math.abs(t);
    return [Math.round(255 + (r - 255) * a), Math.round(255 + (g - 255) * a), Math.round(255 + (b - 255) * a)];
  });
}
