/**
 * Backdoor triggers: what BadNets, the clean-label backdoor, the held-out fixtures and the
 * defences stamp onto an input. Every trigger compiles to one form, a per-pixel mask m in
 * [0, 1] and a pattern p, stamped as x′ = (1 − m)·x + m·p — the form Neural Cleanse
 * (Wang et al. 2019) reverse-engineers, so a reversed trigger and the true one compare
 * pixel by pixel.
 *
 * - pixel: one bright pixel `distance` from the bottom-right corner (Gu et al. 2017's
 *   single-pixel backdoor).
 * - pattern: four pixels in a small checkerboard whose corner is `distance` from the
 *   bottom-right (Gu et al.'s pattern backdoor; ART's `add_pattern_bd` places the same one).
 * - patch: a size × size square at (row, col), checkerboard or solid (Turner et al. 2019's
 *   3×3 checkerboard; patches anywhere for the held-out checks).
 * - blend: the whole image mixed with a fixed pattern at opacity α (Chen et al. 2017,
 *   "Targeted Backdoor Attacks on Deep Learning Systems Using Data Poisoning": α = 0.2 when
 *   poisoning); a seeded uniform-noise pattern unless an image is given.
 * - mask: an explicit mask and pattern (what another tool or Neural Cleanse produced).
 */
import { createRng } from "../../data/random.js";
import { AegisError } from "../../errors.js";
import { type ImageLayout, imageLayout } from "../../report/images.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";

export type TriggerSpec =
  | { kind: "pixel"; distance: number; value: number }
  | { kind: "pattern"; distance: number; value: number }
  | { kind: "patch"; row: number; col: number; size: number; fill: "checkerboard" | "solid"; value: number }
  | { kind: "blend"; alpha: number; image: number[] }
  | { kind: "mask"; mask: number[]; pattern: number[] };

export const TRIGGER_KINDS = ["pixel", "pattern", "patch", "blend", "mask"] as const;

/** A trigger for one sample shape: mask per pixel [H·W], pattern per value [sample size]. */
export interface CompiledTrigger {
  layout: ImageLayout;
  mask: Float32Array;
  pattern: Float32Array;
}

/** The sample shape as an image, or an error that says triggers need images. */
export function imageOf(sampleShape: readonly number[]): ImageLayout {
  const layout = imageLayout(sampleShape);
  if (!layout) {
    throw new AegisError(
      "UNSUPPORTED",
      `a backdoor trigger needs image samples ([C, H, W], [H, W, C] or [H, W]); these have shape [${sampleShape.join(", ")}] (for tabular data use aegis poison tabular)`,
    );
  }
  return layout;
}

/** Parses "pattern", "pixel:distance=3", "patch:row=2,col=2,size=3", "blend:alpha=0.2,seed=7" (the CLI's --trigger). */
export function parseTrigger(spec: string, sampleShape: readonly number[], options: { value?: number; image?: Float32Array } = {}): TriggerSpec {
  const [kind, rest = ""] = spec.split(":", 2);
  const settings = new Map<string, string>();
  for (const part of rest.split(",").filter((p) => p.trim() !== "")) {
    const [key, value] = part.split("=").map((s) => s.trim());
    if (value === undefined) throw new AegisError("BAD_OPTION", `--trigger "${spec}": "${part}" is not key=value`);
    settings.set(key, value);
  }
  const number = (key: string, fallback: number) => {
    const raw = settings.get(key);
    settings.delete(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new AegisError("BAD_OPTION", `--trigger "${spec}": ${key} must be a number, not "${raw}"`);
    return n;
  };
  const layout = imageOf(sampleShape);
  const value = number("value", options.value ?? 1);
  let trigger: TriggerSpec;
  if (kind === "pixel" || kind === "pattern") trigger = { kind, distance: number("distance", 2), value };
  else if (kind === "patch") {
    const size = number("size", 3);
    const fill = settings.get("fill") ?? "checkerboard";
    settings.delete("fill");
    if (fill !== "checkerboard" && fill !== "solid") throw new AegisError("BAD_OPTION", `--trigger "${spec}": fill must be checkerboard or solid`);
    trigger = { kind, size, row: number("row", layout.height - size - 1), col: number("col", layout.width - size - 1), fill, value };
  } else if (kind === "blend") {
    const alpha = number("alpha", 0.2);
    const seed = number("seed", 0);
    const image = options.image ? Array.from(options.image) : randomPattern(layout, seed);
    trigger = { kind, alpha, image };
  } else throw new AegisError("BAD_OPTION", `--trigger must be pixel, pattern, patch or blend (with options after a colon), not "${spec}"`);
  if (settings.size > 0) throw new AegisError("BAD_OPTION", `--trigger "${spec}": unknown setting ${[...settings.keys()].join(", ")}`);
  compileTrigger(trigger, sampleShape);
  return trigger;
}

/** Uniform noise in [0, 1] of one sample's pixels (one channel, repeated on the others by compileTrigger). */
function randomPattern(layout: ImageLayout, seed: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: layout.height * layout.width }, () => Math.round(rng.next() * 1000) / 1000);
}

/** The mask and pattern of a trigger for samples of `sampleShape`; checks that it fits. */
export function compileTrigger(trigger: TriggerSpec, sampleShape: readonly number[]): CompiledTrigger {
  const layout = imageOf(sampleShape);
  const { height: h, width: w } = layout;
  const size = sizeOf(sampleShape);
  const mask = new Float32Array(h * w);
  const pattern = new Float32Array(size);
  const setPixel = (r: number, c: number, v: number) => {
    if (r < 0 || r >= h || c < 0 || c >= w) throw new AegisError("BAD_OPTION", `the trigger's pixel (${r}, ${c}) lies outside the ${h}×${w} image`);
    mask[r * w + c] = 1;
    forChannels(layout, r, c, (k) => {
      pattern[k] = v;
    });
  };
  switch (trigger.kind) {
    case "pixel":
      setPixel(h - trigger.distance, w - trigger.distance, trigger.value);
      break;
    case "pattern": {
      const r = h - trigger.distance;
      const c = w - trigger.distance;
      for (const [dr, dc] of [
        [0, 0],
        [-1, -1],
        [0, -2],
        [-2, 0],
      ])
        setPixel(r + dr, c + dc, trigger.value);
      break;
    }
    case "patch":
      for (let i = 0; i < trigger.size; i++)
        for (let j = 0; j < trigger.size; j++) {
          const on = trigger.fill === "solid" || (i + j) % 2 === 0;
          setPixel(trigger.row + i, trigger.col + j, on ? trigger.value : 0);
        }
      break;
    case "blend": {
      if (!(trigger.alpha > 0 && trigger.alpha <= 1)) throw new AegisError("BAD_OPTION", `a blend trigger's alpha must be in (0, 1], not ${trigger.alpha}`);
      mask.fill(trigger.alpha);
      fillPattern(pattern, trigger.image, layout, size, "blend image");
      break;
    }
    case "mask": {
      if (trigger.mask.length !== h * w)
        throw new AegisError("BAD_DATA", `a mask trigger needs ${h * w} mask values (one per pixel), not ${trigger.mask.length}`);
      trigger.mask.forEach((v, i) => {
        mask[i] = Math.min(1, Math.max(0, v));
      });
      fillPattern(pattern, trigger.pattern, layout, size, "mask trigger's pattern");
      break;
    }
  }
  return { layout, mask, pattern };
}

/** A pattern of one sample's size, or of one channel repeated on every channel. */
function fillPattern(out: Float32Array, values: readonly number[], layout: ImageLayout, size: number, what: string): void {
  const pixels = layout.height * layout.width;
  if (values.length === size) out.set(values);
  else if (values.length === pixels) {
    for (let r = 0; r < layout.height; r++)
      for (let c = 0; c < layout.width; c++)
        forChannels(layout, r, c, (k) => {
          out[k] = values[r * layout.width + c];
        });
  } else throw new AegisError("BAD_DATA", `the ${what} has ${values.length} values; the samples need ${size} (or ${pixels}, one per pixel)`);
}

/** Calls `f` with the flat index of pixel (r, c) in every channel. */
function forChannels(layout: ImageLayout, r: number, c: number, f: (index: number) => void): void {
  const { height: h, width: w, channels } = layout;
  for (let ch = 0; ch < channels; ch++) f(layout.channelsFirst ? (ch * h + r) * w + c : (r * w + c) * channels + ch);
}

/** The pixel of flat index k of a sample. */
function pixelOf(layout: ImageLayout, k: number): number {
  const { height: h, width: w, channels } = layout;
  return layout.channelsFirst ? k % (h * w) : Math.floor(k / channels);
}

/** Stamps the trigger on the chosen rows of x in place: x′ = (1 − m)·x + m·p. */
export function stampRows(x: Float32Array, rowSize: number, rows: Iterable<number>, trigger: CompiledTrigger): void {
  for (const r of rows) {
    const base = r * rowSize;
    for (let k = 0; k < rowSize; k++) {
      const m = trigger.mask[pixelOf(trigger.layout, k)];
      if (m !== 0) x[base + k] = (1 - m) * x[base + k] + m * trigger.pattern[k];
    }
  }
}

/** A copy of x with the trigger on every row. */
export function stamp(x: Tensor<"float32">, trigger: CompiledTrigger): Tensor<"float32"> {
  const out = Float32Array.from(x.data);
  const row = sizeOf(x.shape.slice(1));
  stampRows(
    out,
    row,
    Array.from({ length: x.shape[0] }, (_, i) => i),
    trigger,
  );
  return float32(x.shape, out);
}

/**
 * The share of a mask's mass that lies within `margin` pixels of where the true trigger
 * acts (its mask's support): 1 when a reversed trigger sits exactly on the true one.
 */
export function maskOverlap(mask: Float32Array, truth: CompiledTrigger, width: number, margin = 1): number {
  const height = mask.length / width;
  let inside = 0;
  let total = 0;
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) {
      const v = Math.abs(mask[r * width + c]);
      total += v;
      let near = false;
      for (let dr = -margin; dr <= margin && !near; dr++)
        for (let dc = -margin; dc <= margin && !near; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          near = rr >= 0 && rr < height && cc >= 0 && cc < width && truth.mask[rr * width + cc] > 0;
        }
      if (near) inside += v;
    }
  return total > 0 ? inside / total : 0;
}
