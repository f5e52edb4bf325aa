import { attr, DataType, getInt } from "../../onnx/ir.js";
import { normalizeAxis, zerosOf } from "../constants.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * dData = dY added into zeros at the gathered positions; an index that occurs several
 * times collects every contribution. From opset 16 that is ScatterElements with
 * reduction "add"; before, ScatterElements overwrites duplicates, so the sum is taken
 * through a one-hot mask [indices == j] of size |indices|·dim(axis) instead.
 */
export const GatherElements: VjpRule = {
  opType: "GatherElements",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [data, indices] = node.inputs;
    return [
      () => {
        const dataShape = ctx.shape(data);
        const dataType = ctx.dataType(data);
        const axis = normalizeAxis(getInt(node, "axis", 0), dataShape.length);
        if (b.opset >= 16) {
          return b.op("ScatterElements", [zerosOf(b, dataShape, dataType), indices, dy0(ctx)], { axis: attr.int(axis), reduction: attr.string("add") });
        }
        const indexShape = ctx.shape(indices);
        const indexType = ctx.dataType(indices);
        const size = dataShape[axis];
        const ints = (values: number[], dims: number[]) =>
          b.initializer(indexType, dims, indexType === DataType.INT64 ? BigInt64Array.from(values, (v) => BigInt(v)) : Int32Array.from(values), "ints");
        // Mod maps negative indices (counting from the end) into [0, size).
        const wrapped = b.op("Mod", [indices, ints([size], [])]);
        // Positions 0…size-1 laid out along the new axis axis+1 of [..., i_axis, size, ...].
        const positions = ints(
          Array.from({ length: size }, (_, j) => j),
          [size, ...new Array<number>(dataShape.length - 1 - axis).fill(1)],
        );
        const mask = b.cast(b.op("Equal", [b.unsqueeze(wrapped, [axis + 1]), positions]), dataType);
        let g = b.reduceSum(b.op("Mul", [mask, b.unsqueeze(dy0(ctx), [axis + 1])]), [axis], false);
        // Where indices are shorter than data on the other axes, data beyond them gets zeros.
        const short = dataShape.map((d, i) => (i === axis ? 0 : d - indexShape[i]));
        if (short.some((s) => s > 0)) g = b.padZeros(g, [...dataShape.map(() => 0), ...short]);
        return g;
      },
      undefined,
    ];
  },
};
