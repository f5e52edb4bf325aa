import { attr, DataType, getInt } from "../../onnx/ir.js";
import { normalizeAxis, zerosOf } from "../constants.js";
import { dy0, type VjpRule } from "../rule.js";
import { oneHot, product } from "./nn-window.js";

/**
 * Y[p, q, r] = X[p, idx[q], r] (p: axes before `axis`, q: the index positions, r: after).
 * dX[p, i, r] = Σ_{q : idx[q] = i} dY[p, q, r]: repeated indices add. From opset 16 a
 * scatter with reduction="add" does it (ScatterND row by row on axis 0, ScatterElements
 * otherwise); below, a one-hot matrix [X.shape[axis], Q] times dY as [P, Q, R].
 * Negative indices count from the end in every form. The indices get no gradient.
 */
export const Gather: VjpRule = {
  opType: "Gather",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [data, indices] = node.inputs;
    const ds = ctx.shape(data);
    const is = ctx.shape(indices);
    const dt = ctx.dataType(data);
    const axis = normalizeAxis(getInt(node, "axis", 0), ds.length);
    const q = product(is);
    const p = product(ds.slice(0, axis));
    const len = ds[axis];
    const r = product(ds.slice(axis + 1));

    return [
      () => {
        const dy = dy0(ctx);
        if (b.opset >= 16) {
          // Wrap negative indices: the ScatterND spec leaves them undefined.
          let idx = ctx.dataType(indices) === DataType.INT64 ? indices : b.cast(indices, DataType.INT64);
          idx = b.op("Mod", [idx, b.int64s([len])]);
          if (axis === 0) {
            const rows = b.reshape(idx, [q, 1]);
            return b.op("ScatterND", [zerosOf(b, ds, dt), rows, b.reshape(dy, [q, ...ds.slice(1)])], { reduction: attr.string("add") });
          }
          const spread = b.op("Expand", [b.reshape(idx, [1, q, 1]), b.int64s([p, q, r])]);
          const summed = b.op("ScatterElements", [zerosOf(b, [p, len, r], dt), spread, b.reshape(dy, [p, q, r])], {
            axis: attr.int(1),
            reduction: attr.string("add"),
          });
          return b.reshape(summed, ds);
        }
        const hot = oneHot(b, b.reshape(indices, [q]), ctx.dataType(indices), len, 0, dt);
        const summed = b.op("MatMul", [hot, b.reshape(dy, p === 1 ? [q, r] : [p, q, r])]);
        return b.reshape(summed, ds);
      },
      undefined,
    ];
  },
};
