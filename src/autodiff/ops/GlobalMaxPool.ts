import { attr } from "../../onnx/ir.js";
import { zerosOf } from "../constants.js";
import { dy0, type VjpRule } from "../rule.js";
import { product } from "./nn-window.js";

/**
 * Y[n,c] = max of X[n,c,…]: dX is dY at the first argmax of each plane and zero elsewhere
 * (one element per plane, like MaxPool's indices; a mask X == Y would count ties twice).
 */
export const GlobalMaxPool: VjpRule = {
  opType: "GlobalMaxPool",
  grad: (ctx) => {
    const { node, b } = ctx;
    const x = node.inputs[0];
    const xs = ctx.shape(x);
    const [n, c] = xs;
    const planes = [n, c, product(xs.slice(2))];
    return [
      () => {
        const flat = b.reshape(x, planes);
        const at = b.op("ArgMax", [flat], { axis: attr.int(2), keepdims: attr.int(1) });
        const scattered = b.op("ScatterElements", [zerosOf(b, planes, ctx.dataType(x)), at, b.reshape(dy0(ctx), [n, c, 1])], { axis: attr.int(2) });
        return b.reshape(scattered, xs);
      },
    ];
  },
};
