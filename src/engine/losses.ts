/**
 * Losses, appended to a model's graph as ONNX nodes so that their gradients come from
 * the same VJP rules as the model's. Every loss is per sample: it reads the logits
 * [B, K] and a target matrix [B, K] (one-hot labels, or soft labels for distillation)
 * and yields a vector [B]; the engine sums it with per-sample weights into the scalar
 * that seeds the backward pass.
 */
import { AegisError } from "../errors.js";
import type { GraphBuilder } from "../onnx/builder.js";
import { attr } from "../onnx/ir.js";

export interface LossInputs {
  /** Logits [B, K] (log-probabilities serve too: every loss here is shift-invariant per sample). */
  logits: string;
  /** The model's raw output [B, K] (logits or probabilities). */
  output: string;
  /** Targets [B, K]: one-hot or soft labels, float. */
  targets: string;
  numClasses: number;
}

export interface Loss {
  readonly name: string;
  /** Appends the loss nodes; returns the per-sample loss vector [B]. */
  build(b: GraphBuilder, inputs: LossInputs): string;
}

/** Cross-entropy −Σₖ tₖ·log softmax(z)ₖ (soft targets allowed). */
export const crossEntropy: Loss = {
  name: "ce",
  build(b, { logits, targets }) {
    const logp = b.op("LogSoftmax", [logits], { axis: attr.int(1) });
    return b.op("Neg", [b.reduceSum(b.op("Mul", [targets, logp]), [1], false)]);
  },
};

/** The true class's logit and the largest other logit, both [B]. */
function trueAndBestOther(b: GraphBuilder, logits: string, targets: string): { trueLogit: string; bestOther: string } {
  const trueLogit = b.reduceSum(b.op("Mul", [logits, targets]), [1], false);
  // Push the true class far down so that the maximum is over the other classes.
  const masked = b.op("Sub", [logits, b.op("Mul", [targets, b.scalar(1e9)])]);
  return { trueLogit, bestOther: b.reduceMax(masked, [1], false) };
}

/** Carlini–Wagner margin max_{j≠y} z_j − z_y (Carlini & Wagner 2017): positive once misclassified. */
export const marginLoss: Loss = {
  name: "margin",
  build(b, { logits, targets }) {
    const { trueLogit, bestOther } = trueAndBestOther(b, logits, targets);
    return b.op("Sub", [bestOther, trueLogit]);
  },
};

/**
 * Difference of logits ratio (Croce & Hein 2020, APGD-DLR):
 * −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e−12), π sorting the logits decreasingly.
 * Invariant to shifting and scaling the logits.
 */
export const dlrLoss: Loss = {
  name: "dlr",
  build(b, { logits, targets, numClasses }) {
    if (numClasses < 3) throw new AegisError("BAD_OPTION", "the DLR loss needs at least 3 classes; use --loss ce or margin for this model");
    const { trueLogit, bestOther } = trueAndBestOther(b, logits, targets);
    const [top3] = b.node("TopK", [logits, b.int64s([3])], { axis: attr.int(1), largest: attr.int(1), sorted: attr.int(1) }, 2);
    const first = b.squeeze(b.slice(top3, [0], [1], [1]), [1]);
    const third = b.squeeze(b.slice(top3, [2], [3], [1]), [1]);
    const spread = b.op("Add", [b.op("Sub", [first, third]), b.scalar(1e-12)]);
    return b.op("Neg", [b.op("Div", [b.op("Sub", [trueLogit, bestOther]), spread])]);
  },
};

/**
 * Targeted DLR (Croce & Hein 2020, APGD-T): −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e−12)
 * for true class y and target t. Its target matrix is onehot(y) − onehot(t), so the
 * numerator z_y − z_t is the one product Σₖ Tₖ·zₖ.
 */
export const dlrTargetedLoss: Loss = {
  name: "dlr-targeted",
  build(b, { logits, targets, numClasses }) {
    if (numClasses < 4) throw new AegisError("BAD_OPTION", "the targeted DLR loss needs at least 4 classes; use the ce loss for this model");
    const gap = b.reduceSum(b.op("Mul", [logits, targets]), [1], false);
    const [top4] = b.node("TopK", [logits, b.int64s([4])], { axis: attr.int(1), largest: attr.int(1), sorted: attr.int(1) }, 2);
    const rank = (k: number) => b.squeeze(b.slice(top4, [k], [k + 1], [1]), [1]);
    const lower = b.op("Mul", [b.op("Add", [rank(2), rank(3)]), b.scalar(0.5)]);
    const spread = b.op("Add", [b.op("Sub", [rank(0), lower]), b.scalar(1e-12)]);
    return b.op("Neg", [b.op("Div", [gap, spread])]);
  },
};

/** The model's own output for the target class, Σₖ tₖ·outputₖ: class gradients. */
export const classOutput: Loss = {
  name: "class",
  build(b, { output, targets }) {
    return b.reduceSum(b.op("Mul", [output, targets]), [1], false);
  },
};

export const LOSSES: Readonly<Record<string, Loss>> = {
  ce: crossEntropy,
  margin: marginLoss,
  dlr: dlrLoss,
  "dlr-targeted": dlrTargetedLoss,
  class: classOutput,
};

export function lossByName(name: string): Loss {
  const loss = LOSSES[name];
  if (!loss) throw new AegisError("BAD_OPTION", `unknown loss "${name}"; choose one of ${Object.keys(LOSSES).join(", ")}`);
  return loss;
}
