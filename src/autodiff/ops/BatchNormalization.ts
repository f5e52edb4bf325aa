import { getFloat, type Node } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpContext, type VjpRule } from "../rule.js";
import { axesButChannel, batchStatistics, isTrainingBatchNorm } from "./nn-window.js";

/**
 * Per channel (axis 1), sums Σ over every other axis (M elements), x̂ = (X − μ)·r, r = 1/√(σ² + ε),
 * Y = scale·x̂ + B. dScale = Σ dY·x̂, dB = Σ dY in both modes.
 * Inference mode (μ, σ² the running statistics, inputs 3 and 4): dX = dY·scale·r;
 * dMean = −dB·scale·r; dVar = −½·dScale·scale·r².
 * Training mode (μ, σ² the batch's, biased): they depend on X too, and
 * dX = scale·r·(dY − dB/M − x̂·dScale/M); the running statistics only feed the running-statistic
 * outputs, which carry no gradient.
 * Shared values are emitted once, whichever thunks are called.
 */
export const BatchNormalization: VjpRule = {
  opType: "BatchNormalization",
  grad: (ctx) => {
    const { node } = ctx;
    const [x] = node.inputs;
    if (node.inputs.slice(1).some((p) => ctx.dataType(p) !== ctx.dataType(x))) unsupported(node, "parameters of another element type than X");
    if (ctx.dy.slice(1).some((g) => g !== undefined)) unsupported(node, "a gradient flowing into its running-statistic outputs");
    return isTrainingBatchNorm(node) ? trainingMode(ctx) : inferenceMode(ctx, node);
  },
};

function once<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => {
    if (v === undefined) v = f();
    return v;
  };
}

function inferenceMode(ctx: VjpContext, node: Node) {
  const { b } = ctx;
  const [x, scale, , mean, variance] = node.inputs;
  const xs = ctx.shape(x);
  const dt = ctx.dataType(x);
  const eps = getFloat(node, "epsilon", 1e-5);
  const axes = axesButChannel(xs.length);
  const perChannel = [xs[1], ...new Array<number>(xs.length - 2).fill(1)];
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
}

function trainingMode(ctx: VjpContext) {
  const { node, b } = ctx;
  const [x, scale] = node.inputs;
  const xs = ctx.shape(x);
  const dt = ctx.dataType(x);
  const eps = getFloat(node, "epsilon", 1e-5);
  const axes = axesButChannel(xs.length);
  const count = xs.reduce((p, d) => p * d, 1) / xs[1];
  const perChannel = [xs[1], ...new Array<number>(xs.length - 2).fill(1)];
  const stats = once(() => batchStatistics(b, x, xs.length, dt, eps));
  const dB = once(() => b.reduceSum(dy0(ctx), axes, true));
  const dScale = once(() => b.reduceSum(b.op("Mul", [dy0(ctx), stats().xhat]), axes, true));
  return [
    () => {
      const { xhat, r } = stats();
      const k = b.op("Mul", [b.op("Mul", [b.reshape(scale, perChannel), r]), b.scalar(1 / count, dt)]);
      const centred = b.op("Sub", [b.op("Mul", [dy0(ctx), b.scalar(count, dt)]), dB()]);
      return b.op("Mul", [k, b.op("Sub", [centred, b.op("Mul", [xhat, dScale()])])]);
    },
    () => b.reshape(dScale(), [xs[1]]),
    () => b.reshape(dB(), [xs[1]]),
    undefined,
    undefined,
  ];
}
