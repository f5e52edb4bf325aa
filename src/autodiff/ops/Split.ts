import { getInt } from "../../onnx/ir.js";
import { normalizeAxis, zerosOf } from "../constants.js";
import { unsupported, type VjpRule } from "../rule.js";

/**
 * dX = Concat(dY₀, …, dYₙ) along `axis`, with zeros for outputs no gradient reaches.
 * The piece sizes come from the outputs' static shapes, so every opset form (sizes as
 * attribute before 13, as input from 13, `num_outputs` from 18) is handled alike.
 */
export const Split: VjpRule = {
  opType: "Split",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x] = node.inputs;
    return [
      () => {
        const axis = normalizeAxis(getInt(node, "axis", 0), ctx.shape(x).length);
        const pieces = node.outputs.map((o, i) => {
          const g = ctx.dy[i];
          if (g !== undefined) return g;
          if (!o) unsupported(node, `an unnamed output ${i}`);
          return zerosOf(b, ctx.shape(o), ctx.dataType(x));
        });
        return pieces.length === 1 ? pieces[0] : b.concat(pieces, axis);
      },
      undefined,
    ];
  },
};
