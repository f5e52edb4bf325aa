import { dy0, type VjpRule } from "../rule.js";

/**
 * y = x·max(0, min(1, x/6 + 1/2)): dx = dy·0 for x < −3, dy·(x/3 + 1/2) for −3 ≤ x ≤ 3,
 * dy for x > 3 (PyTorch's hardswish_backward, boundaries included).
 */
export const HardSwish: VjpRule = {
  opType: "HardSwish",
  grad: (ctx) => {
    const x = ctx.node.inputs[0];
    return [
      () => {
        const b = ctx.b;
        const t = ctx.dataType(x);
        const k = (v: number) => b.scalar(v, t);
        const middle = b.op("Add", [b.op("Mul", [x, k(1 / 3)]), k(0.5)]);
        const upper = b.op("Where", [b.op("LessOrEqual", [x, k(3)]), middle, k(1)]);
        const slope = b.op("Where", [b.op("Less", [x, k(-3)]), k(0), upper]);
        return b.op("Mul", [dy0(ctx), slope]);
      },
    ];
  },
};
