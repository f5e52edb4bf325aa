import assert from "node:assert/strict";
import { test } from "node:test";
import { type Attribute, attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const conv = (x: number[], w: number[], attributes: Record<string, Attribute> = {}, opset = 17, bias = true) =>
  checkVjp({ opType: "Conv", inputs: [{ shape: x }, { shape: w }, ...(bias ? [{ shape: [w[0]] }] : [])], attributes, opset });

const convT = (x: number[], w: number[], attributes: Record<string, Attribute> = {}, opset = 17, bias = true) =>
  checkVjp({
    opType: "ConvTranspose",
    inputs: [{ shape: x }, { shape: w }, ...(bias ? [{ shape: [w[1] * ((attributes.group?.value as number) ?? 1)] }] : [])],
    attributes,
    opset,
  });

test("Conv 2-D, plain, with and without bias", async () => {
  await conv([2, 3, 5, 5], [4, 3, 3, 3]);
  await conv([2, 3, 4, 5], [2, 3, 2, 2], {}, 17, false);
});

test("Conv stride 2, asymmetric pads, floor remainders on both axes", async () => {
  await conv([2, 2, 6, 7], [3, 2, 3, 2], { strides: attr.ints([2, 2]), pads: attr.ints([1, 0, 0, 2]) });
  // No end pad to absorb the remainder: the weight gradient's Conv yields extra taps, cropped.
  await conv([1, 2, 6, 6], [2, 2, 3, 3], { strides: attr.ints([2, 3]) });
});

test("Conv dilation 2, and dilation with stride", async () => {
  await conv([1, 2, 7, 6], [3, 2, 2, 3], { dilations: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
  await conv([2, 1, 9, 8], [2, 1, 3, 2], { dilations: attr.ints([2, 1]), strides: attr.ints([2, 2]), pads: attr.ints([0, 1, 2, 0]) });
});

test("Conv groups 2 and depthwise", async () => {
  await conv([2, 4, 5, 5], [6, 2, 3, 3], { group: attr.int(2), pads: attr.ints([1, 1, 1, 1]) });
  await conv([2, 3, 5, 6], [6, 1, 3, 3], { group: attr.int(3), strides: attr.ints([2, 2]) });
  await conv([1, 4, 6, 5], [4, 1, 2, 2], { group: attr.int(4), dilations: attr.ints([2, 2]) });
});

test("Conv with more output channels than output positions (the batch folds into one MatMul per group)", async () => {
  await conv([2, 3, 3, 3], [8, 3, 3, 3]);
  await conv([3, 4, 4, 3], [6, 2, 3, 2], { group: attr.int(2), strides: attr.ints([2, 2]) });
  await conv([2, 3, 2, 2], [5, 3, 1, 1], {}, 17, false);
});

test("Conv 1-D with stride, pads and groups", async () => {
  await conv([2, 4, 9], [4, 2, 3], { strides: attr.ints([2]), pads: attr.ints([2, 1]), group: attr.int(2) });
  await conv([3, 2, 8], [3, 2, 2], { dilations: attr.ints([3]) });
});

test("Conv auto_pad SAME_UPPER, SAME_LOWER and VALID", async () => {
  await conv([2, 2, 6, 5], [3, 2, 2, 3], { auto_pad: attr.string("SAME_UPPER") });
  await conv([2, 2, 7, 6], [3, 2, 2, 3], { auto_pad: attr.string("SAME_LOWER"), strides: attr.ints([2, 2]) });
  await conv([1, 2, 7, 6], [2, 2, 3, 3], { auto_pad: attr.string("VALID"), strides: attr.ints([2, 1]) });
});

test("Conv single-channel input and batch 1 (Transposes become Reshapes), at opset 11 and 13", async () => {
  await conv([3, 1, 6, 6], [4, 1, 3, 3], { pads: attr.ints([1, 1, 1, 1]) }, 11);
  await conv([1, 3, 5, 5], [2, 3, 3, 3], { strides: attr.ints([2, 2]) }, 13);
});

test("Conv 3-D", async () => {
  await conv([1, 2, 4, 4, 3], [2, 2, 2, 3, 2], { pads: attr.ints([1, 0, 1, 0, 1, 0]) });
});

test("ConvTranspose 2-D, plain and with stride, pads, output_padding", async () => {
  await convT([2, 3, 4, 4], [3, 2, 3, 3]);
  await convT([2, 2, 3, 4], [2, 3, 3, 2], { strides: attr.ints([2, 3]), pads: attr.ints([1, 0, 0, 1]), output_padding: attr.ints([1, 2]) });
});

test("ConvTranspose dilation, output_padding past the stride's reach, no bias", async () => {
  await convT([1, 2, 4, 3], [2, 2, 2, 3], { dilations: attr.ints([2, 2]), strides: attr.ints([2, 1]), output_padding: attr.ints([1, 0]) });
  await convT([2, 2, 3, 3], [2, 1, 2, 2], { strides: attr.ints([3, 2]), dilations: attr.ints([2, 1]), output_padding: attr.ints([2, 1]) }, 17, false);
});

test("ConvTranspose groups and depthwise, 1-D", async () => {
  await convT([2, 4, 3, 3], [4, 3, 2, 2], { group: attr.int(2), strides: attr.ints([2, 2]) });
  await convT([2, 3, 5], [3, 1, 3], { group: attr.int(3), strides: attr.ints([2]), pads: attr.ints([1, 2]) });
});

test("ConvTranspose symmetric SAME_UPPER and output_shape, at opset 11", async () => {
  await convT([1, 2, 3, 3], [2, 2, 4, 4], { auto_pad: attr.string("SAME_UPPER"), strides: attr.ints([2, 2]) }, 11);
  await convT([2, 2, 3], [2, 2, 3], { output_shape: attr.ints([5]), strides: attr.ints([2]) }, 11);
});

test("ConvTranspose whose SAME padding would be asymmetric is refused by name", async () => {
  await assert.rejects(convT([1, 2, 3, 3], [2, 2, 3, 3], { auto_pad: attr.string("SAME_UPPER"), strides: attr.ints([2, 2]) }), /asymmetric/);
});
