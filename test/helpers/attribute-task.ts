/**
 * A synthetic tabular task for attribute inference whose answer is known: a binary
 * sensitive column 0, independent of the five others, decides whether the label follows
 * column 2 or its opposite, and a quarter of the labels are flipped, so a model that trains
 * long on few records memorises them.
 */
import type { LabelledData } from "../../src/attacks/inference/observations.js";
import { createRng } from "../../src/data/random.js";
import { float32 } from "../../src/tensor.js";

export function attributeRecords(n: number, seed: number): LabelledData {
  const rng = createRng(seed);
  const x = new Float32Array(n * 6);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = rng.next() < 0.5 ? 1 : 0;
    const row = [s, rng.normal(), rng.normal(), rng.normal(), rng.normal(), rng.normal()];
    x.set(row, i * 6);
    const follows = (s === 1 ? row[2] : -row[2]) > 0;
    labels.push(follows !== rng.next() < 0.25 ? 1 : 0);
  }
  return { x: float32([n, 6], x), labels };
}
