/**
 * Adversarial Patch — Brown, Mané, Roy, Abadi & Gilmer, "Adversarial Patch", 2017. One
 * square patch P, pasted over any image by a mask (x' = (1 − m)·x + m·P), that makes the
 * model predict a chosen class. P is trained by gradient steps on the loss of the target
 * class averaged over images and random placements (expectation over transformation);
 * the gradient with respect to P is the input gradient summed over the pixels P covers.
 * Its budget ε is its size: a share of the image area (ε < 1) or its side in pixels.
 * Deviations: the transformations are translations and optional nearest-neighbour
 * scaling, not rotations; steps follow the sign of the gradient. The paper gives no step
 * size, iteration count or batch size, so they are ART's: 5/255 of the input range,
 * 500 steps of 16 images. With `targeted` false, P pushes images away from their labels.
 */

import type { Rng } from "../../data/random.js";
import type { Labels, LossGradient, ModelInfo } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";

export interface PatchParams extends CommonParams {
  /** Gradient-sign step on the patch; default 5/255 of the clip range. */
  learningRate?: number;
  maxIter: number;
  /** Images per step. */
  batchSize: number;
  /** Range of the random scale of the patch's side at each placement. */
  scaleMin: number;
  scaleMax: number;
}

export interface PatchOutput extends AttackOutput {
  /** The trained patch: the image layout with a side × side square. */
  patch: Tensor<"float32">;
}

/** Where channel c of pixel (i, j) lies in one sample, for the three image layouts. */
interface Layout {
  kind: "chw" | "hwc" | "hw";
  channels: number;
  height: number;
  width: number;
  shape: number[];
  offset(c: number, i: number, j: number): number;
}

function makeLayout(kind: Layout["kind"], channels: number, height: number, width: number): Layout {
  if (kind === "hw") return { kind, channels, height, width, shape: [height, width], offset: (_c, i, j) => i * width + j };
  if (kind === "chw") return { kind, channels, height, width, shape: [channels, height, width], offset: (c, i, j) => (c * height + i) * width + j };
  return { kind, channels, height, width, shape: [height, width, channels], offset: (c, i, j) => (i * width + j) * channels + c };
}

function imageLayout(shape: readonly number[]): Layout {
  if (shape.length === 2) return makeLayout("hw", 1, shape[0], shape[1]);
  if (shape.length === 3 && shape[0] <= 4) return makeLayout("chw", shape[0], shape[1], shape[2]);
  if (shape.length === 3 && shape[2] <= 4) return makeLayout("hwc", shape[2], shape[0], shape[1]);
  throw new AegisError(
    "UNSUPPORTED",
    `adversarial-patch needs images ([C, H, W], [H, W, C] or [H, W]) but the samples have shape [${shape.join(", ")}]; for tabular data use pgd with --constraints`,
  );
}

function patchSide(eps: number, layout: Layout): number {
  const side = Math.round(eps < 1 ? Math.sqrt(eps * layout.height * layout.width) : eps);
  if (!(side >= 1 && side <= Math.min(layout.height, layout.width))) {
    throw new AegisError(
      "BAD_OPTION",
      `a patch of ε = ${eps} does not fit a ${layout.height}×${layout.width} image; give a share of the area below 1 or a side of at most ${Math.min(layout.height, layout.width)} pixels`,
    );
  }
  return side;
}

/** One placement: the patch resized to `size` pixels with its corner at (top, left). */
interface Placement {
  top: number;
  left: number;
  size: number;
}

function randomPlacement(side: number, layout: Layout, scaleMin: number, scaleMax: number, rng: Rng): Placement {
  const scale = scaleMin + (scaleMax - scaleMin) * rng.next();
  const size = Math.max(1, Math.min(layout.height, layout.width, Math.round(side * scale)));
  return { top: rng.int(layout.height - size + 1), left: rng.int(layout.width - size + 1), size };
}

/** Calls visit(imageOffset, patchOffset) for every pixel channel the placement covers (nearest neighbour). */
function covered(image: Layout, patch: Layout, at: Placement, visit: (imageOffset: number, patchOffset: number) => void): void {
  for (let u = 0; u < at.size; u++) {
    const pu = Math.floor((u * patch.height) / at.size);
    for (let v = 0; v < at.size; v++) {
      const pv = Math.floor((v * patch.width) / at.size);
      for (let c = 0; c < image.channels; c++) visit(image.offset(c, at.top + u, at.left + v), patch.offset(c, pu, pv));
    }
  }
}

/** Pastes the patch onto each image at a random placement; returns new images. */
export function applyPatch(
  x: Tensor<"float32">,
  patch: Tensor<"float32">,
  rng: Rng,
  options: { scaleMin?: number; scaleMax?: number } = {},
): Tensor<"float32"> {
  const layout = imageLayout(x.shape.slice(1));
  const side = Math.round(Math.sqrt(patch.data.length / layout.channels));
  const patchLayout = makeLayout(layout.kind, layout.channels, side, side);
  if (patch.shape.join() !== patchLayout.shape.join()) {
    throw new AegisError(
      "SHAPE_MISMATCH",
      `a patch of shape [${patch.shape.join(", ")}] does not fit images of shape [${x.shape.slice(1).join(", ")}]; it needs [${patchLayout.shape.join(", ")}]`,
    );
  }
  const row = sizeOf(x.shape.slice(1));
  const out = Float32Array.from(x.data);
  for (let s = 0; s < out.length; s += row) {
    const at = randomPlacement(side, layout, options.scaleMin ?? 1, options.scaleMax ?? 1, rng);
    covered(layout, patchLayout, at, (k, q) => {
      out[s + k] = patch.data[q];
    });
  }
  return float32(x.shape, out);
}

/** Trains a patch on the images x toward the targets y (or away from the labels y). */
export async function trainPatch(
  model: LossGradient & ModelInfo,
  x: Tensor<"float32">,
  y: Labels,
  p: PatchParams,
  ctx: AttackContext,
): Promise<Tensor<"float32">> {
  const layout = imageLayout(x.shape.slice(1));
  const side = patchSide(p.eps, layout);
  if (p.targeted && y.some((t) => t !== y[0])) {
    throw new AegisError("BAD_OPTION", "a targeted patch has one target class for every image; give a single --target-class");
  }
  if (!(p.scaleMin > 0 && p.scaleMin <= p.scaleMax))
    throw new AegisError("BAD_OPTION", `the patch's scale range [${p.scaleMin}, ${p.scaleMax}] must satisfy 0 < scaleMin ≤ scaleMax`);
  const [lo, hi] = model.clipRange;
  const patchLayout = makeLayout(layout.kind, layout.channels, side, side);
  const patch = Float32Array.from({ length: sizeOf(patchLayout.shape) }, () => lo + (hi - lo) * ctx.rng.next());
  const step = p.learningRate ?? ((hi - lo) * 5) / 255;
  const sign = p.targeted ? -1 : 1;
  const row = sizeOf(x.shape.slice(1));
  const n = x.shape[0];
  const grad = new Float32Array(patch.length);
  for (let iter = 0; iter < p.maxIter && !ctx.signal?.aborted; iter++) {
    // A constant batch shape (images drawn with replacement) keeps one gradient graph.
    const rows = Array.from({ length: p.batchSize }, () => ctx.rng.int(n));
    const batch = gatherRows(x, rows);
    const placements = rows.map(() => randomPlacement(side, layout, p.scaleMin, p.scaleMax, ctx.rng));
    for (let i = 0; i < rows.length; i++) {
      covered(layout, patchLayout, placements[i], (k, q) => {
        batch.data[i * row + k] = patch[q];
      });
    }
    const g = await model.lossGradient(
      batch,
      rows.map((r) => y[r]),
    );
    grad.fill(0);
    for (let i = 0; i < rows.length; i++) {
      covered(layout, patchLayout, placements[i], (k, q) => {
        grad[q] += g.data[i * row + k];
      });
    }
    for (let q = 0; q < patch.length; q++) patch[q] = Math.min(hi, Math.max(lo, patch[q] + sign * step * Math.sign(grad[q])));
    ctx.onProgress?.(iter + 1, p.maxIter);
  }
  return float32(patchLayout.shape, patch);
}

/** The attack spec, whose run also returns the patch. */
export type PatchAttack = Omit<Attack<PatchParams, LossGradient & ModelInfo>, "run"> & {
  run(model: LossGradient & ModelInfo, x: Tensor<"float32">, y: Labels, p: PatchParams, ctx: AttackContext): Promise<PatchOutput>;
};

export const adversarialPatch: PatchAttack = {
  name: "adversarial-patch",
  joint: true,
  title: "Adversarial Patch",
  paper: "Brown, Mané, Roy, Abadi & Gilmer 2017, Adversarial Patch",
  needs: ["predict", "lossGradient"],
  inputs: ["image"],
  norms: ["inf"],
  defaults: { eps: 0.1, norm: "inf", targeted: true, maxIter: 500, batchSize: 16, scaleMin: 1, scaleMax: 1 },
  help: {
    eps: "size of the square patch: a share of the image area (below 1; the paper's patches cover about 10%) or its side in pixels",
    norm: "inf only: inside its square the patch takes any value of the input range",
    targeted: "train toward one target class (the paper's setting); false pushes images away from their labels",
    learningRate: "gradient-sign step on the patch (default 5/255 of the input range, as ART)",
    maxIter: "training steps (ART's 500)",
    batchSize: "images per training step, each with its own random placement (ART's 16)",
    scaleMin: "smallest random scale of the patch's side at a placement (1: translations only)",
    scaleMax: "largest random scale of the patch's side",
  },
  async run(model, x, y, p, ctx) {
    const patch = await trainPatch(model, x, y, p, ctx);
    return { x: applyPatch(x, patch, ctx.rng, p), patch };
  },
};
