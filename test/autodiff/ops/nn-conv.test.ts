import { test } from "node:test";
import { type Attribute, attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const conv = (x: number[], w: number[], attributes: Record<string, Attribute> = {}, opset = 17, bias = true) =>
  checkVjp({ opType: "Conv", inputs: [{ shape: x }, { shape: w }, ...(bias ? [{ shape: [w[0]] }] : [])], attributes, opset });

test("Conv 2-D, plain", async () => {
  await conv([2, 3, 5, 5], [4, 3, 3, 3]);
});

test("Conv stride 2 with asymmetric pads (floor remainder rows)", async () => {
  await conv([2, 2, 6, 7], [3, 2, 3, 2], { strides: attr.ints([2, 2]), pads: attr.ints([1, 0, 0, 2]) });
});

test("Conv dilation 2", async () => {
  await conv([1, 2, 7, 6], [3, 2, 2, 3], { dilations: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
});
