import { getFloat, getInt } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";
import { axesButChannel } from "./nn-window.js";

/**
 * Inference mode: Y = scale·(X − mean)·r + B per channel (axis 1), r = 1/√(var + ε).
 * dX = dY·scale·r; dScale = Σ dY·x̂ with x̂ = (X − mean)·r; dB = Σ dY;
 * dMean = −dB·scale·r; dVar = −½·dScale·scale·r² (sums over all axes but 1).
 * Shared values are emitted once, whichever thunks are called.
 */
export const BatchNormalization: VjpRule = {
  opType: "BatchNormalization",
  grad: (ctx) => {
    const { node, b } = ctx;
    if (getInt(node, "training_mode", 0) === 1) unsupported(node, "training_mode=1");
    // Before opset 14, extra outputs are the running statistics of training mode.
    if (node.outputs.slice(1).some((o) => o)) unsupported(node, "training-mode outputs (running mean/var)");
    const [x, scale, , mean, variance] = node.inputs;
    const xs = ctx.shape(x);
    const dt = ctx.dataType(x);
    const eps = getFloat(node, "epsilon", 1e-5);
    const axes = axesButChannel(xs.length);
    if (node.inputs.slice(1).some((p) => ctx.dataType(p) !== dt)) unsupported(node, "parameters of another element type than X");
    const perChannel = [xs[1], ...new Array<number>(xs.length - 2).fill(1)];
    const once = <T>(f: () => T) => {
      let v: T | undefined;
      return () => {
        if (v === undefined) v = f();
        return v;
      };
    };
    const r = once(() => b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [variance, b.scalar(eps, dt)])])]));
    const scaleR = once(() => b.op("Mul", [scale, r()]));
    const dB = once(() => b.reduceSum(dy0(ctx), axes, false));
    const dScale = once(() => {
      const xhat = b.op("Mul", [b.op("Sub", [x, b.reshape(mean, perChannel)]), b.reshape(r(), perChannel)]);
      return b.reduceSum(b.op("Mul", [dy0(ctx), xhat]), axes, false);
    });
    return [
      () => b.op("Mul", [dy0(ctx), b.reshape(scaleR(), perChannel)]),
      dScale,
      dB,
      () => b.op("Neg", [b.op("Mul", [dB(), scaleR()])]),
      () => b.op("Mul", [dScale(), b.op("Mul", [b.op("Mul", [scaleR(), r()]), b.scalar(-0.5, dt)])]),
    ];
  },
};
