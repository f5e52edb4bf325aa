/**
 * The graph a training step runs, as PyTorch's train() runs a model:
 * - BatchNormalization normalises with the batch's mean and biased variance and updates its
 *   running statistics as torch.nn.BatchNorm does: running = (1 − m)·running + m·batch, the
 *   variance unbiased (M/(M − 1) for M values per channel). ONNX's momentum is PyTorch's
 *   1 − m (exporters write 0.9 for PyTorch's 0.1) and its training mode updates with the
 *   biased variance, so the node is fed running_var·(M − 1)/M and its output multiplied by
 *   M/(M − 1): the same update, exactly.
 * - Dropout (opset ≥ 12) draws a mask, seeded per node from the training seed; ONNX Runtime
 *   advances that generator from run to run, so each step draws a new mask and a run is
 *   reproducible for a seed. Opset 7–11 Dropout has no training mode and stays the identity.
 * The nodes are rewritten in place; the probed shapes of the inference graph still hold, and
 * those of the new values are added.
 */
import type { ValueShape } from "../autodiff/rule.js";
import { AegisError } from "../errors.js";
import { GraphBuilder } from "../onnx/builder.js";
import { type Attribute, attr, DataType, defaultOpset, getFloat, getInt, type Model, type Node } from "../onnx/ir.js";

/**
 * Rewrites `model` for training; returns, per running statistic (a graph input), the value
 * holding its update.
 */
export function toTrainingMode(model: Model, shapes: Map<string, ValueShape>, seed: number): Map<string, string> {
  const graph = model.graph;
  const b = new GraphBuilder(graph, defaultOpset(model), "train_mode");
  const inputs = new Set(graph.inputs.map((i) => i.name));
  const updates = new Map<string, string>();
  let dropouts = 0;
  for (const node of [...graph.nodes]) {
    if (node.domain !== "" && node.domain !== "ai.onnx") continue;
    if (node.opType === "BatchNormalization" && !node.outputs.slice(1).some((o) => o) && getInt(node, "training_mode", 0) === 0) {
      for (const [running, update] of batchNormUpdates(b, node, shapes, inputs)) updates.set(running, update);
    } else if (node.opType === "Dropout" && b.opset >= 12) {
      node.attributes.seed = attr.int(seed * 1009 + dropouts++);
      const training = b.initializer(DataType.BOOL, [], Uint8Array.of(1), "training");
      node.inputs = [node.inputs[0], node.inputs[1] ?? "", training];
      if (!node.outputs[1]) node.outputs = [node.outputs[0], b.fresh("dropout_mask")];
      const x = shapes.get(node.inputs[0]) as ValueShape;
      shapes.set(node.outputs[1], { dims: x.dims, dataType: DataType.BOOL });
    }
  }
  return updates;
}

/** Switches one BatchNormalization to batch statistics; returns [mean input, update] and [var input, update]. */
function batchNormUpdates(b: GraphBuilder, node: Node, shapes: Map<string, ValueShape>, inputs: ReadonlySet<string>): [string, string][] {
  const [x, , , mean, variance] = node.inputs;
  for (const s of [mean, variance]) {
    if (!inputs.has(s)) {
      throw new AegisError(
        "UNSUPPORTED",
        `BatchNormalization node "${node.name}" reads its running statistic "${s}" from a computed value, so training cannot update it; export the model with its statistics as initializers`,
      );
    }
  }
  const dims = shapes.get(x)?.dims ?? [];
  const perChannel = dims.reduce((p, d) => p * d, 1) / dims[1];
  if (!(perChannel > 1)) {
    throw new AegisError("BAD_OPTION", `BatchNormalization node "${node.name}" sees ${perChannel} value per channel in a batch; train with a larger batch`);
  }
  const unbias = perChannel / (perChannel - 1);
  const nodes = b.graph.nodes;
  const before = nodes.length;
  const fedVariance = b.op("Mul", [variance, b.scalar(1 / unbias)]);
  // The new node must precede the BatchNormalization that reads it.
  const [divide] = nodes.splice(before, nodes.length - before);
  nodes.splice(nodes.indexOf(node), 0, divide);

  const [meanOut, biasedVarOut] = [b.fresh("running_mean"), b.fresh("running_var_biased")];
  const attrs: Record<string, Attribute> = { ...node.attributes, momentum: attr.float(getFloat(node, "momentum", 0.9)) };
  if (b.opset >= 14) attrs.training_mode = attr.int(1);
  node.attributes = attrs;
  node.inputs = [...node.inputs.slice(0, 4), fedVariance];
  // Before opset 14 the mode is chosen by the outputs: all five (the saved statistics unused).
  node.outputs = [node.outputs[0], meanOut, biasedVarOut, ...(b.opset >= 14 ? [] : [b.fresh("saved_mean"), b.fresh("saved_var")])];
  const varianceOut = b.op("Mul", [biasedVarOut, b.scalar(unbias)]);
  const statistic = shapes.get(variance) as ValueShape;
  for (const v of [fedVariance, meanOut, biasedVarOut, varianceOut]) shapes.set(v, statistic);
  return [
    [mean, meanOut],
    [variance, varianceOut],
  ];
}
