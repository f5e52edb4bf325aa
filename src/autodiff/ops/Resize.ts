import { getInt, getInts, getString } from "../../onnx/ir.js";
import { constantNumbers } from "../constants.js";
import { dy0, unsupported, type VjpContext, type VjpRule } from "../rule.js";
import { floatConst } from "./nn-window.js";

/**
 * Resize in "nearest" and "linear" mode is linear in X and separable: along each resized
 * axis a, Y = X ×_a M_a with M_a [out_a, in_a] the interpolation matrix (one 1 per row for
 * nearest; two weights w, 1 − w at the clamped source coordinate for linear). So
 * dX = dY ×_a M_aᵀ, one MatMul per resized axis, with M_a computed here from the
 * coordinate transformation and rounding of the ONNX spec (as ONNX Runtime applies them:
 * linear clamps the source coordinate to [0, in − 1]). Scales come from the `scales`
 * input, else out/in from the probed shapes. Opset 10's Resize (scales only, asymmetric) too,
 * rounding nearest as ONNX Runtime does there: down when upsampling, up when downsampling.
 * Not supported: cubic mode, tf_crop_and_resize, antialias, axes, keep_aspect_ratio_policy
 * other than stretch, exclude_outside.
 */
export const Resize: VjpRule = {
  opType: "Resize",
  grad: (ctx) => {
    const { node } = ctx;
    const mode = getString(node, "mode", "nearest");
    if (mode !== "nearest" && mode !== "linear") unsupported(node, `mode "${mode}"`);
    const transform = ctx.b.opset >= 11 ? getString(node, "coordinate_transformation_mode", "half_pixel") : "asymmetric";
    if (!TRANSFORMS[transform]) unsupported(node, `coordinate_transformation_mode "${transform}"`);
    if (getInt(node, "antialias", 0) !== 0) unsupported(node, "antialias=1");
    if (getInts(node, "axes")) unsupported(node, "axes");
    if (getString(node, "keep_aspect_ratio_policy", "stretch") !== "stretch") unsupported(node, "keep_aspect_ratio_policy");
    if (getInt(node, "exclude_outside", 0) !== 0) unsupported(node, "exclude_outside=1");
    const nearest = getString(node, "nearest_mode", "round_prefer_floor");
    if (!ROUNDING[nearest]) unsupported(node, `nearest_mode "${nearest}"`);
    const rounding = (scale: number) => (ctx.b.opset >= 11 ? ROUNDING[nearest] : scale < 1 ? Math.ceil : Math.floor);
    return node.inputs.map((_, i) =>
      i === 0
        ? () => {
            const b = ctx.b;
            const inDims = ctx.shape(node.inputs[0]);
            const outDims = ctx.shape(node.outputs[0]);
            const scales = resizeScales(ctx, inDims, outDims);
            let g = dy0(ctx);
            const rank = inDims.length;
            for (let axis = 0; axis < rank; axis++) {
              if (inDims[axis] === outDims[axis] && scales[axis] === 1) continue;
              const m = interpolation(inDims[axis], outDims[axis], scales[axis], transform, mode, rounding(scales[axis]));
              // dX along this axis: move it last, multiply by M [out, in], move it back.
              const perm = [...Array(rank).keys()].filter((a) => a !== axis).concat(axis);
              const back = perm.map((_, j) => perm.indexOf(j));
              const matrix = floatConst(b, node, ctx.dataType(node.inputs[0]), [outDims[axis], inDims[axis]], m);
              g = b.transpose(b.op("MatMul", [b.transpose(g, perm), matrix]), back);
            }
            return g;
          }
        : undefined,
    );
  },
};

const TRANSFORMS: Record<string, (x: number, scale: number, inLen: number, outLen: number) => number> = {
  half_pixel: (x, s) => (x + 0.5) / s - 0.5,
  pytorch_half_pixel: (x, s, _in, out) => (out > 1 ? (x + 0.5) / s - 0.5 : 0),
  align_corners: (x, _s, inLen, out) => (out === 1 ? 0 : (x * (inLen - 1)) / (out - 1)),
  asymmetric: (x, s) => x / s,
  tf_half_pixel_for_nn: (x, s) => (x + 0.5) / s,
};

const ROUNDING: Record<string, (x: number) => number> = {
  round_prefer_floor: (x) => (x - Math.floor(x) === 0.5 ? Math.floor(x) : Math.round(x)),
  round_prefer_ceil: (x) => Math.round(x),
  floor: Math.floor,
  ceil: Math.ceil,
};

/** Per axis, the scale the coordinate transformation divides by. */
function resizeScales(ctx: VjpContext, inDims: number[], outDims: number[]): number[] {
  const { node } = ctx;
  // Opset 10: Resize(X, scales); 11+: Resize(X, roi, scales, sizes).
  const scalesInput = ctx.b.opset >= 11 ? node.inputs[2] : node.inputs[1];
  const given = scalesInput ? constantNumbers(ctx, scalesInput) : undefined;
  if (given && given.length === inDims.length) return given;
  return inDims.map((d, i) => outDims[i] / d);
}

/** The interpolation matrix [out, in] of one axis, row-major. */
function interpolation(inLen: number, outLen: number, scale: number, transform: string, mode: string, round: (x: number) => number): number[] {
  const m = new Array<number>(outLen * inLen).fill(0);
  for (let o = 0; o < outLen; o++) {
    const x = TRANSFORMS[transform](o, scale, inLen, outLen);
    if (mode === "nearest") {
      const i = Math.min(inLen - 1, Math.max(0, round(x)));
      m[o * inLen + i] = 1;
      continue;
    }
    const clamped = Math.min(inLen - 1, Math.max(0, x));
    const i0 = Math.floor(clamped);
    const i1 = Math.min(i0 + 1, inLen - 1);
    const w = clamped - i0;
    m[o * inLen + i0] += 1 - w;
    m[o * inLen + i1] += w;
  }
  return m;
}
