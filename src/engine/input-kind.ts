/**
 * What a model's input is, for choosing the attacks that mean something on it: images
 * ([C, H, W], [H, W, C], or [H, W] into a 2-D convolution), tabular rows ([F]), sequences
 * of feature vectors ([T, F], [C, T]) and token ids (an integer input, which continuous
 * perturbations cannot reach). Square, SimBA-DCT and the patch need images; the rest of
 * the continuous attacks work on any float input.
 */
import { DataType, getInts, type Model } from "../onnx/ir.js";

export type InputKind = "image" | "tabular" | "sequence" | "tokens";

export const INPUT_KINDS: readonly InputKind[] = ["image", "tabular", "sequence", "tokens"];

/** Every kind a continuous perturbation can change: all but token ids. */
export const CONTINUOUS_INPUTS: readonly InputKind[] = ["image", "tabular", "sequence"];

const WINDOWED = new Set(["Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"]);

/** The kind of the model's (first) data input. */
export function inputKind(model: Model): InputKind {
  const g = model.graph;
  const initializers = new Set(g.initializers.map((t) => t.name));
  const input = g.inputs.find((i) => !initializers.has(i.name));
  if (!input) return "tabular";
  if (input.elemType !== DataType.FLOAT && input.elemType !== DataType.DOUBLE && input.elemType !== DataType.FLOAT16) return "tokens";
  const rank = (input.shape?.length ?? 2) - 1;
  if (rank !== 2) return inputKindOfShape(new Array<number>(Math.max(rank, 0)).fill(1));
  // [H, W] or [T, F]: an image when the model slides 2-D windows over it.
  const twoD = g.nodes.some((n) => WINDOWED.has(n.opType) && (getInts(n, "kernel_shape")?.length === 2 || kernelRank(model, n.inputs[1]) === 4));
  return twoD ? "image" : "sequence";
}

/** A guess from one sample's shape alone: rank 1 tabular, rank 2 a sequence, higher an image. */
export function inputKindOfShape(shape: readonly number[]): InputKind {
  if (shape.length <= 1) return "tabular";
  return shape.length === 2 ? "sequence" : "image";
}

/** The rank of a Conv weight initializer (4 for a 2-D convolution), when the graph holds it. */
function kernelRank(model: Model, name: string | undefined): number | undefined {
  return name === undefined ? undefined : model.graph.initializers.find((t) => t.name === name)?.dims.length;
}

/** What a model of this kind takes ("images", "tabular rows"…), for messages. */
export function kindText(kind: InputKind): string {
  return kind === "image" ? "images" : kind === "tabular" ? "tabular rows" : kind === "sequence" ? "sequences" : "token ids";
}
