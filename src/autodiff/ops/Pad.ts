import { getInts, getString } from "../../onnx/ir.js";
import { constantValue, normalizeAxis } from "../constants.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";

/**
 * Constant mode only. dX is dY with the padding cut off again, which is a Pad by the
 * negated pads (a negative pad crops, and undoes a crop by zeros). The padding value
 * receives the sum of dY over the padded positions: Σ dY − Σ dX. Pads (and axes from
 * opset 18) must be constants; reflect, edge and wrap modes are not supported.
 */
export const Pad: VjpRule = {
  opType: "Pad",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x, , value] = node.inputs;
    const mode = getString(node, "mode", "constant");
    if (mode !== "constant") unsupported(node, `mode "${mode}"`);
    let dx: string | undefined;
    const gradX = () => {
      if (dx !== undefined) return dx;
      const rank = ctx.shape(x).length;
      // Before opset 11 pads were an attribute; from 18 they may cover only `axes`.
      const given = node.inputs[1] ? constantValue(ctx, node.inputs[1], "pads") : (getInts(node, "pads") ?? []);
      const axes = node.inputs[3] ? constantValue(ctx, node.inputs[3], "axes").map((a) => normalizeAxis(a, rank)) : [...Array(rank).keys()];
      const negated = new Array<number>(2 * rank).fill(0);
      axes.forEach((axis, i) => {
        negated[axis] = -given[i];
        negated[rank + axis] = -given[axes.length + i];
      });
      dx = negated.some((p) => p !== 0) ? b.padZeros(dy0(ctx), negated) : dy0(ctx);
      return dx;
    };
    return [
      gradX,
      undefined,
      value
        ? () => {
            const padded = b.op("Sub", [b.reduceSum(dy0(ctx), undefined, false), b.reduceSum(gradX(), undefined, false)]);
            return ctx.shape(value).length === 0 ? padded : b.reshape(padded, ctx.shape(value));
          }
        : undefined,
      undefined,
    ];
  },
};
