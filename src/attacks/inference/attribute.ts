/**
 * Attribute inference — Fredrikson, Lantz, Jha, Lin, Page & Ristenpart, "Privacy in
 * Pharmacogenetics: An End-to-End Case Study of Personalized Warfarin Dosing", USENIX
 * Security 2014. An attacker who knows a record's other columns and its label (a patient's
 * demographics and dose) uses the model to infer its sensitive column (the genotype), as
 * the maximum a-posteriori value: v* = argmax_v π(v)·p(y | x₋ₛ, v), with π the column's
 * marginal distribution.
 * - black-box: p(y | x₋ₛ, v) is the model's confidence in the record's label with the
 *   column set to each candidate value v (one query per value), as the paper's
 *   confidence-based estimator (Fredrikson et al. 2015 §4);
 * - white-box: the same objective, −log p(y | x₋ₛ, s) − log π(s), minimised by gradient
 *   descent on the sensitive column itself through the model's input gradients
 *   (relaxed: a one-hot group as a softmax over its columns, a numeric column as a
 *   number between its smallest and largest value with a smoothed prior), then rounded to
 *   the nearest value. It needs no enumeration, so it also reaches columns with many
 *   values, and it is what an attacker holding the weights does.
 * - baseline: what the attacker infers without the model, an MLP trained on the
 *   auxiliary data to predict the column from the other columns and the label (the
 *   "imputation" baseline of Jayaraman & Evans, "Are Attribute Inference Attacks Just
 *   Imputation?", CCS 2022). A gain over it is what the model leaks; a gain on the
 *   training records over unseen ones is what it memorised.
 */
import type { LossGradient, Predictor } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf } from "../../tensor.js";
import { fitAttackModel } from "./attack-model.js";
import { type LabelledData, logProbabilities } from "./observations.js";

/** The sensitive column (or one-hot group of columns) and the values it takes. */
export interface SensitiveAttribute {
  columns: number[];
  /** Candidate values, each a vector over `columns`. */
  values: number[][];
  /** A name per value, for reports. */
  valueNames: string[];
}

/** Distinct values of one column in `data` (at most `maxValues`), or the rows of a one-hot group. */
export function sensitiveAttribute(columns: readonly number[], data: LabelledData, maxValues = 32): SensitiveAttribute {
  const width = checkTabular(data);
  const bad = columns.find((c) => !Number.isInteger(c) || c < 0 || c >= width);
  if (bad !== undefined) throw new AegisError("BAD_OPTION", `column ${bad} is not one of the data's columns 0..${width - 1}`);
  if (columns.length > 1) {
    return {
      columns: [...columns],
      values: columns.map((_, k) => columns.map((__, j) => (j === k ? 1 : 0))),
      valueNames: columns.map((c) => `column ${c}`),
    };
  }
  const [column] = columns;
  const distinct = [...new Set(Array.from({ length: data.labels.length }, (_, i) => data.x.data[i * width + column]))].sort((a, b) => a - b);
  if (distinct.length > maxValues)
    throw new AegisError(
      "BAD_DATA",
      `column ${column} takes ${distinct.length} different values; attribute inference needs a categorical column (at most ${maxValues} values) or a one-hot group of columns`,
    );
  if (distinct.length < 2) throw new AegisError("BAD_DATA", `column ${column} takes one value only in the data; there is nothing to infer`);
  return { columns: [column], values: distinct.map((v) => [v]), valueNames: distinct.map((v) => String(v)) };
}

/** The index of the value each record holds (the nearest candidate). */
export function attributeIndex(attribute: SensitiveAttribute, data: LabelledData): number[] {
  const width = checkTabular(data);
  return data.labels.map((_, i) => nearest(attribute, (k) => data.x.data[i * width + attribute.columns[k]]));
}

export interface AttributeOptions {
  attribute: SensitiveAttribute;
  /** The attacker's data with the column known: the prior, and the baseline's training data. */
  auxiliary: LabelledData;
  /** Gradient steps of the white-box attack (default 100). */
  steps?: number;
  /** Epochs of the baseline MLP (default 40). */
  baselineEpochs?: number;
  seed?: number;
}

/** Per record, the index of the inferred value. */
export interface AttributeGuesses {
  baseline: number[];
  blackBox: number[];
  whiteBox: number[] | null;
}

/** The three estimates for every record of `records` (the white-box one when the model has gradients). */
export async function inferAttribute(model: Predictor & Partial<LossGradient>, records: LabelledData, o: AttributeOptions): Promise<AttributeGuesses> {
  const prior = attributePrior(o.attribute, o.auxiliary);
  const baseline = await imputationBaseline(o, records);
  const blackBox = await mapBlackBox(model, records, o.attribute, prior);
  const whiteBox = model.valueAndGradient ? await mapWhiteBox(model as Predictor & LossGradient, records, o.attribute, prior, o.steps ?? 100) : null;
  return { baseline, blackBox, whiteBox };
}

/** π(v): the share of each value in the auxiliary data, smoothed by one count so no value is impossible. */
export function attributePrior(attribute: SensitiveAttribute, data: LabelledData): Float64Array {
  const counts = new Float64Array(attribute.values.length).fill(1);
  for (const v of attributeIndex(attribute, data)) counts[v]++;
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => c / total);
}

async function mapBlackBox(model: Predictor, records: LabelledData, attribute: SensitiveAttribute, prior: Float64Array): Promise<number[]> {
  const n = records.labels.length;
  const best = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
  const guess = new Array<number>(n).fill(0);
  for (const [v, value] of attribute.values.entries()) {
    const x = withValue(records, attribute, () => value);
    const logp = logProbabilities(model, await model.predict(x));
    const k = model.numClasses;
    for (let i = 0; i < n; i++) {
      const score = Math.log(prior[v]) + logp[i * k + records.labels[i]];
      if (score > best[i]) {
        best[i] = score;
        guess[i] = v;
      }
    }
  }
  return guess;
}

/** Adam on the relaxed column (see the header), from the prior's mean. */
async function mapWhiteBox(
  model: Predictor & LossGradient,
  records: LabelledData,
  attribute: SensitiveAttribute,
  prior: Float64Array,
  steps: number,
): Promise<number[]> {
  const n = records.labels.length;
  const group = attribute.columns.length > 1;
  const values = attribute.values.map((v) => v[0]);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  // Smoothing bandwidth of a numeric column's prior: half the typical gap between its values.
  const bandwidth = Math.max(1e-6, (hi - lo) / (2 * Math.max(1, values.length - 1)));
  const width = group ? attribute.columns.length : 1;
  // The free parameters: softmax logits of a group (start: log prior), or the value itself (start: prior mean).
  const theta = new Float64Array(n * width);
  for (let i = 0; i < n; i++) {
    if (group) for (let k = 0; k < width; k++) theta[i * width + k] = Math.log(prior[k]);
    else theta[i] = values.reduce((s, v, k) => s + prior[k] * v, 0);
  }
  const relaxed = (i: number): number[] => (group ? softmax(theta.subarray(i * width, (i + 1) * width)) : [theta[i]]);
  const rate = group ? 0.1 : 0.05 * (hi - lo);
  const m = new Float64Array(theta.length);
  const s = new Float64Array(theta.length);
  const featureWidth = checkTabular(records);
  for (let step = 1; step <= steps; step++) {
    const x = withValue(records, attribute, relaxed);
    const { grad } = await model.valueAndGradient(x, records.labels, { loss: "ce" });
    for (let i = 0; i < n; i++) {
      const point = relaxed(i);
      // ∂/∂(column values) of −log p(y|x) − log π.
      const dx = attribute.columns.map((c) => grad.data[i * featureWidth + c]);
      const g = group
        ? softmaxBackward(
            point,
            dx.map((d, k) => d - Math.log(prior[k])),
          )
        : [dx[0] - priorScore(point[0], values, prior, bandwidth)];
      for (let k = 0; k < width; k++) {
        const j = i * width + k;
        m[j] = 0.9 * m[j] + 0.1 * g[k];
        s[j] = 0.999 * s[j] + 0.001 * g[k] * g[k];
        theta[j] -= (rate * (m[j] / (1 - 0.9 ** step))) / (Math.sqrt(s[j] / (1 - 0.999 ** step)) + 1e-8);
        if (!group) theta[j] = Math.min(hi, Math.max(lo, theta[j]));
      }
    }
  }
  return records.labels.map((_, i) => {
    const point = relaxed(i);
    return nearest(attribute, (k) => point[k]);
  });
}

/** d/ds log Σ_k π_k N(s; v_k, h²): the smoothed prior's pull towards likely values. */
function priorScore(value: number, values: readonly number[], prior: Float64Array, h: number): number {
  let weight = 0;
  let pull = 0;
  for (const [k, v] of values.entries()) {
    const w = prior[k] * Math.exp(-((value - v) ** 2) / (2 * h * h));
    weight += w;
    pull += (w * (v - value)) / (h * h);
  }
  return weight > 0 ? pull / weight : 0;
}

function softmax(logits: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(logits));
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** ∂/∂logits of Σ_k g_k·softmax_k. */
function softmaxBackward(p: readonly number[], g: readonly number[]): number[] {
  const dot = p.reduce((a, pk, k) => a + pk * g[k], 0);
  return p.map((pk, k) => pk * (g[k] - dot));
}

/** The records with the sensitive columns set to `value(i)`. */
function withValue(records: LabelledData, attribute: SensitiveAttribute, value: (i: number) => readonly number[]): LabelledData["x"] {
  const width = checkTabular(records);
  const x = Float32Array.from(records.x.data);
  for (let i = 0; i < records.labels.length; i++) {
    const v = value(i);
    for (const [k, c] of attribute.columns.entries()) x[i * width + c] = v[k];
  }
  return float32(records.x.shape, x);
}

/** The baseline: an MLP from the other columns and the label's one-hot to the value (see the header). */
async function imputationBaseline(o: AttributeOptions, records: LabelledData): Promise<number[]> {
  const classes = 1 + Math.max(...o.auxiliary.labels, ...records.labels);
  const features = (d: LabelledData) => {
    const width = checkTabular(d);
    const kept = Array.from({ length: width }, (_, c) => c).filter((c) => !o.attribute.columns.includes(c));
    const out = new Float32Array(d.labels.length * (kept.length + classes));
    const stride = kept.length + classes;
    for (let i = 0; i < d.labels.length; i++) {
      for (const [j, c] of kept.entries()) out[i * stride + j] = d.x.data[i * width + c];
      out[i * stride + kept.length + d.labels[i]] = 1;
    }
    return out;
  };
  const model = await fitAttackModel(features(o.auxiliary), attributeIndex(o.attribute, o.auxiliary), {
    classes: o.attribute.values.length,
    epochs: o.baselineEpochs ?? 40,
    seed: o.seed ?? 0,
  });
  try {
    // A baseline no better than the most frequent value on held-out data is that value.
    if (model.validationAccuracy <= model.majorityAccuracy) {
      const prior = attributePrior(o.attribute, o.auxiliary);
      const mode = prior.indexOf(Math.max(...prior));
      return records.labels.map(() => mode);
    }
    const p = await model.probabilities(features(records), records.labels.length);
    const k = o.attribute.values.length;
    return records.labels.map((_, i) => {
      let best = 0;
      for (let v = 1; v < k; v++) if (p[i * k + v] > p[i * k + best]) best = v;
      return best;
    });
  } finally {
    await model.release();
  }
}

function nearest(attribute: SensitiveAttribute, at: (k: number) => number): number {
  let best = 0;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const [v, value] of attribute.values.entries()) {
    let d = 0;
    for (let k = 0; k < value.length; k++) d += (at(k) - value[k]) ** 2;
    if (d < bestDistance) {
      bestDistance = d;
      best = v;
    }
  }
  return best;
}

function checkTabular(data: LabelledData): number {
  if (data.x.shape.length !== 2)
    throw new AegisError(
      "BAD_DATA",
      `attribute inference works on tabular data [samples, columns]; these samples have shape [${data.x.shape.slice(1).join(", ")}]`,
    );
  return sizeOf(data.x.shape.slice(1));
}
