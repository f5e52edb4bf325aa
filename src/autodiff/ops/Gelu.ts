import { getString } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";

/**
 * Gelu (opset 20). approximate="none": y = x·Φ(x), dx = dy·(Φ(x) + x·φ(x)), with
 * Φ(x) = (1 + erf(x/√2))/2 and φ(x) = e^(−x²/2)/√(2π).
 * approximate="tanh": y = x·(1 + tanh u)/2, u = √(2/π)·(x + 0.044715·x³),
 * dx = dy·((1 + tanh u)/2 + x·(1 − tanh² u)/2 · √(2/π)·(1 + 3·0.044715·x²)).
 */
export const Gelu: VjpRule = {
  opType: "Gelu",
  grad: (ctx) => {
    const x = ctx.node.inputs[0];
    const approximate = getString(ctx.node, "approximate", "none");
    if (approximate !== "none" && approximate !== "tanh") unsupported(ctx.node, `approximate="${approximate}"`);
    return [
      () => {
        const b = ctx.b;
        const t = ctx.dataType(ctx.node.outputs[0]);
        const k = (v: number) => b.scalar(v, t);
        const mul = (p: string, q: string) => b.op("Mul", [p, q]);
        const add = (p: string, q: string) => b.op("Add", [p, q]);
        const x2 = mul(x, x);
        let slope: string;
        if (approximate === "none") {
          const cdf = mul(add(b.op("Erf", [mul(x, k(Math.SQRT1_2))]), k(1)), k(0.5));
          const pdf = mul(b.op("Exp", [mul(x2, k(-0.5))]), k(1 / Math.sqrt(2 * Math.PI)));
          slope = add(cdf, mul(x, pdf));
        } else {
          const c = Math.sqrt(2 / Math.PI);
          const u = mul(mul(x, add(mul(x2, k(0.044715)), k(1))), k(c));
          const th = b.op("Tanh", [u]);
          const du = mul(add(mul(x2, k(3 * 0.044715)), k(1)), k(c));
          const sech2 = b.op("Sub", [k(1), mul(th, th)]);
          slope = add(mul(add(th, k(1)), k(0.5)), mul(mul(mul(x, k(0.5)), sech2), du));
        }
        return mul(dy0(ctx), slope);
      },
    ];
  },
};
