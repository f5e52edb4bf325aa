import { attr, getInts } from "../../onnx/ir.js";
import { constantValue, normalizeAxis } from "../constants.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * dX puts dY back where the slice took it from, zeros elsewhere. Axes with step 1 are
 * one Pad; for any other step, dY gets one zero appended along the axis and a Gather
 * maps each position of X to the element of dY taken from it, or to that zero. Starts,
 * ends, axes and steps must be constants (initializers or Constant nodes).
 */
export const Slice: VjpRule = {
  opType: "Slice",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x] = node.inputs;
    return [
      () => {
        const dims = ctx.shape(x);
        const outDims = ctx.shape(node.outputs[0]);
        const rank = dims.length;
        // Before opset 10 starts, ends and axes were attributes.
        const input = (i: number, attrName: string, what: string) => {
          const name = node.inputs[i];
          if (name) return constantValue(ctx, name, what);
          return getInts(node, attrName);
        };
        const starts = input(1, "starts", "starts") ?? [];
        const ends = input(2, "ends", "ends") ?? [];
        const axes = (input(3, "axes", "axes") ?? starts.map((_, i) => i)).map((a) => normalizeAxis(a, rank));
        const steps = input(4, "", "steps") ?? starts.map(() => 1);

        const pads = new Array<number>(2 * rank).fill(0);
        const gathers: { axis: number; map: number[] }[] = [];
        axes.forEach((axis, i) => {
          const d = dims[axis];
          const step = steps[i];
          let start = starts[i] < 0 ? starts[i] + d : starts[i];
          let end = ends[i] < 0 ? ends[i] + d : ends[i];
          if (step > 0) {
            start = Math.min(Math.max(start, 0), d);
            end = Math.min(Math.max(end, 0), d);
          } else {
            start = Math.min(Math.max(start, 0), d - 1);
            end = Math.min(Math.max(end, -1), d - 1);
          }
          const n = outDims[axis];
          const count = Math.max(0, Math.ceil((end - start) / step));
          if (count !== n) throw new Error(`Slice node ${node.name}: computed ${count} elements along axis ${axis}, the probe saw ${n}`);
          if (step === 1) {
            pads[axis] = start;
            pads[rank + axis] = d - start - n;
            return;
          }
          // map[j] = which element of dY came from X's position j; n (the appended zero) if none.
          const map = new Array<number>(d).fill(n);
          for (let k = 0; k < n; k++) map[start + k * step] = k;
          gathers.push({ axis, map });
        });

        let g = dy0(ctx);
        if (pads.some((p) => p !== 0)) g = b.padZeros(g, pads);
        for (const { axis, map } of gathers) {
          const one = new Array<number>(2 * rank).fill(0);
          one[rank + axis] = 1;
          g = b.op("Gather", [b.padZeros(g, one), b.int64s(map)], { axis: attr.int(axis) });
        }
        return g;
      },
      undefined,
      undefined,
      undefined,
      undefined,
    ];
  },
};
