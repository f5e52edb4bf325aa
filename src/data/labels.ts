/**
 * Labels cross every module as int64 class indices of shape [n]. Users store them as
 * integers, whole-number floats or one-hot rows; this is the one place that normalises
 * and checks them, so every command reports a bad label the same way.
 */
import { AegisError } from "../errors.js";
import { labelsOf, type Tensor, tensor } from "../tensor.js";

/** Converts class indices (any integer dtype, whole-number floats) or one-hot rows to int64 [n]. */
export function toLabelIndices(y: Tensor, name = "y"): Tensor<"int64"> {
  const [n = 0, width = 1] = y.shape;
  if (y.shape.length === 0 || y.shape.length > 2) {
    throw new AegisError(
      "BAD_DATA",
      `${name} has shape [${y.shape.join(", ")}]; labels must be class indices of shape [n] or one-hot rows of shape [n, classes].`,
    );
  }
  const out = new BigInt64Array(n);
  if (y.shape.length === 2 && width !== 1) {
    for (let i = 0; i < n; i++) out[i] = BigInt(oneHotIndex(y, i, width, name));
    return tensor("int64", [n], out);
  }
  for (let i = 0; i < n; i++) {
    const v = Number(y.data[i]);
    if (!Number.isInteger(v)) {
      throw new AegisError("BAD_DATA", `${name}: sample ${i} has label ${v}, which is not a whole number; labels must be class indices 0, 1, 2, ….`);
    }
    if (v < 0) {
      throw new AegisError("LABEL_OUT_OF_RANGE", `${name}: sample ${i} has label ${v}; labels must be class indices 0, 1, 2, …, never negative.`);
    }
    // int64 labels keep their exact value; others are exact as whole numbers below 2^53.
    out[i] = y.dtype === "int64" ? (y.data[i] as bigint) : BigInt(v);
  }
  return tensor("int64", [n], out);
}

function oneHotIndex(y: Tensor, row: number, width: number, name: string): number {
  let hot = -1;
  for (let j = 0; j < width; j++) {
    const v = Number(y.data[row * width + j]);
    if (v === 1 && hot === -1) hot = j;
    else if (v !== 0) {
      throw new AegisError(
        "BAD_DATA",
        `${name}: sample ${row} is not a one-hot row (a 2-D y must hold exactly one 1 per row, zeros elsewhere); give class indices of shape [n] instead.`,
      );
    }
  }
  if (hot === -1) {
    throw new AegisError("BAD_DATA", `${name}: sample ${row} is an all-zero row, not one-hot; give class indices of shape [n] instead.`);
  }
  return hot;
}

/** Throws LABEL_OUT_OF_RANGE unless every label lies in 0 .. numClasses - 1. */
export function checkLabels(y: Tensor, numClasses: number): void {
  for (let i = 0; i < y.data.length; i++) {
    const v = Number(y.data[i]);
    if (!(Number.isInteger(v) && v >= 0 && v < numClasses)) {
      const hint = v === numClasses ? " If the labels start at 1, subtract 1 from them." : "";
      throw new AegisError(
        "LABEL_OUT_OF_RANGE",
        `Sample ${i} has label ${v}, but the model has ${numClasses} classes, so labels must lie in 0 to ${numClasses - 1}.${hint}`,
      );
    }
  }
}

/** The labels of a dataset that must have them, as plain class indices; `why` names what needs them ("an audit"). */
export function requireLabels(data: { name: string; y?: Tensor }, why: string): number[] {
  if (!data.y) throw new AegisError("BAD_DATA", `${data.name} has no labels, which ${why} needs; add a "y" array or name it with --y-key`);
  return labelsOf(data.y);
}
