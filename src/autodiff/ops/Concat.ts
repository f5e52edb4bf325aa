import { getInt } from "../../onnx/ir.js";
import { normalizeAxis } from "../constants.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";

/** dXᵢ is the slab of dY along `axis` at Xᵢ's static offset; one Slice per input asked for. */
export const Concat: VjpRule = {
  opType: "Concat",
  grad: (ctx) => {
    const { node, b } = ctx;
    if (!("axis" in node.attributes)) unsupported(node, "no axis attribute");
    const rank = ctx.shape(node.outputs[0]).length;
    const axis = normalizeAxis(getInt(node, "axis", 0), rank);
    let offset = 0;
    return node.inputs.map((input) => {
      const start = offset;
      const end = start + ctx.shape(input)[axis];
      offset = end;
      return () => (node.inputs.length === 1 ? dy0(ctx) : b.slice(dy0(ctx), [start], [end], [axis]));
    });
  },
};
