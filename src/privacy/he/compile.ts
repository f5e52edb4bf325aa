/**
 * `aegis he compile`: an ONNX classifier to an encrypted-inference model. It reads the
 * graph as stages (onnx-stages.ts), fits a polynomial to every ReLU, sigmoid or tanh over
 * the range its inputs take on calibration data, measures how large the values get (the
 * bits q0 must hold above the scale), picks the packing, then the smallest 128-bit-secure
 * CKKS parameters with the largest scale that hold the circuit's depth, and lists the
 * rotations the client must make Galois keys for.
 */
import { AegisError } from "../../errors.js";
import type { Model } from "../../onnx/index.js";
import { batchLayout, type InputEncoding, type OutputEncoding, type Packing, singleLayout, slotsNeeded } from "./layout.js";
import { type AffineStage, depthOf, evaluatePlain, type OutputTransform, type PolyStage, type Stage } from "./model.js";
import { onnxStages } from "./onnx-stages.js";
import { chooseParameters, type HeParameters } from "./params.js";
import { ACTIVATIONS, type FittedActivation, fitPolynomial } from "./polynomial.js";

/** What the client needs and may see: parameters, encodings, rotations — no weights. */
export interface HePublicParams {
  format: "aegis-he-params/1";
  name: string;
  parameters: HeParameters;
  packing: Packing;
  inputShape: number[];
  input: InputEncoding;
  output: OutputEncoding;
  outputTransform: OutputTransform;
  classes: number;
  galoisSteps: number[];
  depth: number;
}

export interface ActivationReport {
  stage: number;
  origin: PolyStage["origin"];
  degree: number;
  coefficients: number[];
  range?: [number, number];
}

export interface CompileReport {
  ops: Record<string, number>;
  activations: ActivationReport[];
  calibrationSamples: number;
  /** Largest magnitude the last stage's partial sums reach on the calibration data. */
  largestValue: number;
  headroomBits: number;
  /** Share of calibration samples on which the polynomial model predicts what the original does. */
  polynomialAgreement: number;
  slots: number;
  samplesPerRequest: number;
}

export interface CompiledModel {
  params: HePublicParams;
  stages: Stage[];
  report: CompileReport;
}

export interface CompileOptions {
  name: string;
  /** Calibration inputs, [n × features] row-major. */
  calibration: Float32Array | Float64Array;
  calibrationSamples: number;
  packing?: Packing | "auto";
  /** Degree of the fitted ReLU/sigmoid/tanh polynomials (default 2 for ReLU, 3 otherwise). */
  activationDegree?: number;
  polyModulusDegree?: number;
  scaleBits?: number;
}

export function compileModel(model: Model, options: CompileOptions): CompiledModel {
  const { stages, inputShape, outputTransform } = onnxStages(model);
  const n = options.calibrationSamples;
  const features = stages[0].kind === "affine" ? stages[0].inputs : 0;
  if (n < 1 || options.calibration.length !== n * features)
    throw new AegisError("SHAPE_MISMATCH", `the calibration data must hold samples of ${features} values (the model's input [${inputShape}])`);
  const x = Float64Array.from(options.calibration);

  // Fit each activation over the range its inputs take, with the original activations before it.
  const inputsOf = new Map<number, Float64Array>();
  const original = (_index: number, stage: PolyStage) => (stage.origin === "polynomial" ? undefined : ACTIVATIONS[stage.origin as FittedActivation]);
  const exact = evaluatePlain(stages, x, n, {
    activation: original,
    observe: (index, values) => {
      if (stages[index].kind === "poly") inputsOf.set(index, values);
    },
  });
  const activations: ActivationReport[] = [];
  for (const [index, stage] of stages.entries()) {
    if (stage.kind !== "poly") continue;
    if (stage.origin !== "polynomial") {
      const degree = options.activationDegree ?? (stage.origin === "relu" ? 2 : 3);
      if (!Number.isInteger(degree) || degree < 2 || degree > 4) throw new AegisError("BAD_OPTION", `--activation-degree must be 2, 3 or 4, not ${degree}`);
      const observed = inputsOf.get(index) as Float64Array;
      const range = extent(observed);
      stage.coefficients = fitPolynomial(ACTIVATIONS[stage.origin], range[0], range[1], degree, observed);
      stage.range = range;
    }
    activations.push({ stage: index, origin: stage.origin, degree: stage.coefficients.length - 1, coefficients: stage.coefficients, range: stage.range });
  }

  // Values q0 must hold: the last stage's sums of |w·x| (its partial sums never exceed them).
  const last = stages[stages.length - 1] as AffineStage;
  let largestValue = 0;
  const approx = evaluatePlain(stages, x, n, {
    observe: (index, values) => {
      if (index === stages.length - 1) largestValue = largestPartialSum(last, values, n);
    },
  });
  const headroomBits = Math.max(6, Math.ceil(Math.log2(largestValue + 1)) + 3);
  const depth = depthOf(stages);
  const classes = last.outputs;

  const packing = choosePacking(stages, options.packing ?? "auto", depth, headroomBits, options);
  const parameters = chooseParameters({
    depth,
    headroomBits,
    slots: packing === "single" ? slotsNeeded(stages) : 1,
    polyModulusDegree: options.polyModulusDegree,
    scaleBits: options.scaleBits,
  });
  const slots = parameters.polyModulusDegree / 2;
  const layout = packing === "single" ? singleLayout(stages, slots) : { ...batchLayout(stages), steps: [] };
  const params: HePublicParams = {
    format: "aegis-he-params/1",
    name: options.name,
    parameters,
    packing,
    inputShape,
    input: layout.input,
    output: layout.output,
    outputTransform,
    classes,
    galoisSteps: layout.steps,
    depth,
  };
  const ops: Record<string, number> = {};
  for (const node of model.graph.nodes) ops[node.opType] = (ops[node.opType] ?? 0) + 1;
  return {
    params,
    stages,
    report: {
      ops,
      activations,
      calibrationSamples: n,
      largestValue,
      headroomBits,
      polynomialAgreement: argmaxAgreement(exact, approx, n, classes),
      slots,
      samplesPerRequest: packing === "single" ? 1 : slots,
    },
  };
}

function choosePacking(stages: Stage[], wanted: Packing | "auto", depth: number, headroomBits: number, options: CompileOptions): Packing {
  if (wanted !== "auto") return wanted;
  try {
    chooseParameters({ depth, headroomBits, slots: slotsNeeded(stages), polyModulusDegree: options.polyModulusDegree, scaleBits: options.scaleBits });
    return "single";
  } catch {
    return "batch";
  }
}

function extent(values: Float64Array): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function largestPartialSum(stage: AffineStage, x: Float64Array, n: number): number {
  let largest = 0;
  for (let s = 0; s < n; s++)
    for (let o = 0; o < stage.outputs; o++) {
      let sum = Math.abs(stage.bias[o]);
      for (let i = 0; i < stage.inputs; i++) sum += Math.abs(stage.weight[o * stage.inputs + i] * x[s * stage.inputs + i]);
      largest = Math.max(largest, sum);
    }
  return largest;
}

export function argmaxAgreement(a: Float64Array, b: Float64Array, n: number, k: number): number {
  let same = 0;
  for (let s = 0; s < n; s++) if (predictedClass(a, s * k, k) === predictedClass(b, s * k, k)) same++;
  return same / n;
}

/** The class of one row of outputs: the largest, or for a single logit (sigmoid), whether it is positive. */
export function predictedClass(v: ArrayLike<number>, offset: number, k: number): number {
  if (k === 1) return v[offset] > 0 ? 1 : 0;
  let best = 0;
  for (let j = 1; j < k; j++) if (v[offset + j] > v[offset + best]) best = j;
  return best;
}
