import { getInts } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/** dX = Transpose(dY) by the inverse permutation; the default perm reverses the axes. */
export const Transpose: VjpRule = {
  opType: "Transpose",
  grad: (ctx) => {
    const [x] = ctx.node.inputs;
    return [
      () => {
        const rank = ctx.shape(x).length;
        const perm = getInts(ctx.node, "perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
        const inverse = new Array<number>(rank);
        perm.forEach((p, i) => {
          inverse[p < 0 ? p + rank : p] = i;
        });
        return ctx.b.transpose(dy0(ctx), inverse);
      },
    ];
  },
};
