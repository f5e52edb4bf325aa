/**
 * A model's trainable parameters as one flat vector, the unit a federation exchanges:
 * clients receive the global vector, train, and send back the difference. The order is
 * the classifier's parameter order, which is the model's initializer order, so every
 * party holding the same ONNX graph agrees on it.
 */

import type { OnnxClassifier } from "../../engine/index.js";
import { AegisError } from "../../errors.js";

/** The number of trainable values of a classifier created with `trainable: true`. */
export function parameterCount(classifier: OnnxClassifier): number {
  return classifier.parameters.reduce((sum, p) => sum + p.value.length, 0);
}

/** A copy of the current parameters, concatenated. */
export function readParameters(classifier: OnnxClassifier): Float32Array {
  const flat = new Float32Array(parameterCount(classifier));
  let offset = 0;
  for (const p of classifier.parameters) {
    flat.set(p.value, offset);
    offset += p.value.length;
  }
  return flat;
}

/** Overwrites the parameters with `flat` (copied in, so the caller may keep using it). */
export function writeParameters(classifier: OnnxClassifier, flat: Float32Array): void {
  const expected = parameterCount(classifier);
  if (flat.length !== expected) {
    throw new AegisError("SHAPE_MISMATCH", `the parameter vector has ${flat.length} values but the model has ${expected}; both sides must use the same model`);
  }
  let offset = 0;
  for (const p of classifier.parameters) {
    p.value = flat.slice(offset, offset + p.value.length);
    offset += p.value.length;
  }
}
