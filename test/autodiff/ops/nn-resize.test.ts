/**
 * Finite-difference checks of Resize in nearest and linear mode: up- and down-sampling with
 * every coordinate transformation and rounding an exporter writes, scales and sizes given as
 * inputs, opsets 10 to 19, and the refusals.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AegisError } from "../../../src/errors.js";
import { type Attribute, attr, DataType } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const X = [2, 2, 3, 4];
const scales = (...v: number[]) => ({ shape: [v.length], constant: Float32Array.from(v), dataType: DataType.FLOAT });
const sizes = (...v: number[]) => ({ shape: [v.length], constant: BigInt64Array.from(v, BigInt) });

/** Resize(X, roi, scales[, sizes]) at opset 11+. */
const resize = (opset: number, attributes: Record<string, Attribute>, by: { scales?: number[]; sizes?: number[] }, x = X) =>
  checkVjp({
    opType: "Resize",
    opset,
    inputs: [{ shape: x }, null, by.scales ? scales(...by.scales) : null, ...(by.sizes ? [sizes(...by.sizes)] : [])],
    attributes,
  });

const mode = (m: string, transform: string, extra: Record<string, Attribute> = {}) => ({
  mode: attr.string(m),
  coordinate_transformation_mode: attr.string(transform),
  ...extra,
});

test("Resize nearest up by 2 (torch's Upsample) and by 1.5, and down by 2, with each rounding", async () => {
  for (const nearest of ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]) {
    const attributes = mode("nearest", "asymmetric", { nearest_mode: attr.string(nearest) });
    await resize(13, attributes, { scales: [1, 1, 2, 2] });
    await resize(13, attributes, { sizes: [2, 2, 5, 6] });
    await resize(13, attributes, { scales: [1, 1, 0.5, 0.5] }, [1, 2, 4, 6]);
  }
  await resize(13, mode("nearest", "half_pixel"), { scales: [1, 1, 2, 3] });
  await resize(13, mode("nearest", "tf_half_pixel_for_nn"), { sizes: [2, 2, 5, 7] });
});

test("Resize linear with half_pixel, pytorch_half_pixel, align_corners and asymmetric, up and down", async () => {
  for (const transform of ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]) {
    await resize(13, mode("linear", transform), { scales: [1, 1, 2, 2] });
    await resize(13, mode("linear", transform), { sizes: [2, 2, 5, 3] });
    await resize(13, mode("linear", transform), { scales: [1, 1, 0.5, 0.5] }, [1, 2, 4, 6]);
  }
});

test("Resize at opset 10 (scales only, asymmetric, nearest rounding down when upsampling and up when downsampling), 11 and 19", async () => {
  await checkVjp({ opType: "Resize", opset: 10, inputs: [{ shape: X }, scales(1, 1, 2, 2)], attributes: { mode: attr.string("linear") } });
  await checkVjp({ opType: "Resize", opset: 10, inputs: [{ shape: X }, scales(1, 1, 2, 3)], attributes: { mode: attr.string("nearest") } });
  await checkVjp({ opType: "Resize", opset: 10, inputs: [{ shape: [1, 2, 4, 6] }, scales(1, 1, 0.5, 0.5)], attributes: { mode: attr.string("nearest") } });
  await checkVjp({
    opType: "Resize",
    opset: 11,
    inputs: [{ shape: X }, { shape: [0], constant: new Float32Array(0), dataType: DataType.FLOAT }, scales(1, 1, 2, 2)],
    attributes: mode("linear", "align_corners"),
  });
  await resize(19, mode("linear", "half_pixel"), { scales: [1, 1, 1.5, 2] });
});

test("Resize modes and options the rule cannot handle are refused by name", async () => {
  const refused = (what: string, attributes: Record<string, Attribute>) =>
    assert.rejects(resize(13, attributes, { scales: [1, 1, 2, 2] }), (e: unknown) => {
      assert.ok(e instanceof AegisError);
      assert.ok(e.message.includes(what), e.message);
      return true;
    });
  await refused('mode "cubic"', mode("cubic", "half_pixel"));
  await refused('coordinate_transformation_mode "tf_crop_and_resize"', mode("linear", "tf_crop_and_resize"));
  await refused("exclude_outside", mode("linear", "half_pixel", { exclude_outside: attr.int(1) }));
});
