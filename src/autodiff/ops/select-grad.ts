/**
 * The gradient shared by the variadic Min and Max: dy goes to the operand(s) equal to the
 * output; operands tied there share it equally (dy/count). For two inputs this is what
 * PyTorch's maximum/minimum do (half each on a tie).
 */
import { dy0, type GradThunk, type VjpContext } from "../rule.js";

export function selectedOperandGrads(ctx: VjpContext): GradThunk[] {
  const { node } = ctx;
  const inputs = node.inputs;
  if (inputs.length === 1) return [() => dy0(ctx)];
  const y = node.outputs[0];
  const t = ctx.dataType(y);
  // Built once, on the first operand that asks, and shared by the others.
  let masks: string[] | undefined;
  let share: string | undefined;
  const shared = () => {
    if (!masks || !share) {
      const b = ctx.b;
      masks = inputs.map((x) => b.cast(b.op("Equal", [x, y]), t));
      share = b.op("Div", [dy0(ctx), b.op("Sum", masks)]);
    }
    return { masks, share };
  };
  return inputs.map((x, i) => () => {
    const s = shared();
    return ctx.unbroadcast(ctx.b.op("Mul", [s.masks[i], s.share]), x);
  });
}
