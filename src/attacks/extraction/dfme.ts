/**
 * Data-Free Model Extraction — Truong, Maini, Walls & Papernot, "Data-Free Model
 * Extraction", CVPR 2021. For the attacker with no natural data at all: a generator G turns
 * noise z into queries, and two players take turns. The student S (the stolen model) learns
 * to match the victim V on G's queries by minimising the ℓ1 distance between their logits;
 * G learns to produce the queries on which they disagree most, by maximising the same
 * distance. V gives no gradients, so ∇ₓ of the distance is estimated by forward
 * differences along m random unit directions u: (d/m)·Σ (L(x + εu) − L(x))/ε · u, and then
 * back-propagated through G. A probability API's answers become logits as
 * log p − mean(log p) (the paper's logit correction; probabilities are floored at 1e-30).
 * Each iteration spends B·(m+1) queries on G's step and B on each of S's n_S steps.
 * Defaults from the paper: B = 256, m = 1, ε = 1e-3, n_G = 1, n_S = 5, S trained by SGD at
 * 0.1 (momentum 0.9, weight decay 5e-4), G by Adam at 1e-4, z of 256 dimensions; the paper
 * spends 2M queries on SVHN and 20M on CIFAR-10 — data-free extraction is expensive.
 * Deviations: G is smaller than the paper's (a dense layer and two stride-2 transposed
 * convolutions for images, two dense layers for tabular inputs, ending in a sigmoid scaled
 * to the input range) and has no BatchNorm, so the queries it is differentiated at are the
 * ones sent; queries stepped outside the input range are clipped back into it.
 */
import { createRng, type Rng } from "../../data/random.js";
import { adam, type Loss, OnnxClassifier, sgd, trainingStep } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { GraphBuilder } from "../../onnx/builder.js";
import { attr, DataType, emptyModel, type Model } from "../../onnx/ir.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import type { QueryOracle } from "./oracle.js";
import { createStolenModel } from "./stolen-model.js";
import type { ExtractionAttack } from "./types.js";

export interface DfmeParams extends Record<string, unknown> {
  batchSize: number;
  directions: number;
  epsilon: number;
  generatorSteps: number;
  studentSteps: number;
  studentLearningRate: number;
  generatorLearningRate: number;
  latentSize: number;
}

export const dfme: ExtractionAttack<DfmeParams> = {
  name: "dfme",
  title: "Data-Free Model Extraction",
  paper: "Truong, Maini, Walls & Papernot 2021, Data-Free Model Extraction",
  data: "none",
  outputs: ["probabilities", "top-k", "labels"],
  defaults: {
    batchSize: 256,
    directions: 1,
    epsilon: 1e-3,
    generatorSteps: 1,
    studentSteps: 5,
    studentLearningRate: 0.1,
    generatorLearningRate: 1e-4,
    latentSize: 256,
  },
  help: {
    batchSize: "queries per generator batch",
    directions: "random directions m of each gradient estimate",
    epsilon: "forward-difference step ε",
    generatorSteps: "generator steps n_G per iteration",
    studentSteps: "student steps n_S per iteration",
    studentLearningRate: "the student's SGD learning rate",
    generatorLearningRate: "the generator's Adam learning rate",
    latentSize: "dimensions of the generator's noise z",
  },
  async run(oracle, input, p, context) {
    const [lo, hi] = oracle.clipRange;
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
      throw new AegisError("BAD_OPTION", "dfme generates queries inside the input range, which must be bounded; give the model's range with --clip lo,hi");
    }
    const perIteration = p.batchSize * (p.generatorSteps * (p.directions + 1) + p.studentSteps);
    if (oracle.remaining < perIteration) {
      throw new AegisError(
        "BAD_OPTION",
        `one dfme iteration spends ${perIteration} queries but the budget is ${oracle.remaining}; raise --budget or lower batchSize`,
      );
    }
    const rng = context.rng;
    const student = await createStolenModel(oracle, input.stolen, p.batchSize);
    const generator = await OnnxClassifier.create(buildGenerator(oracle.inputShape, [lo, hi], p.latentSize, input.stolen.seed), {
      ...input.stolen.runtime,
      trainable: true,
      batchSize: p.batchSize,
    });
    const studentOptimizer = sgd({ lr: p.studentLearningRate, momentum: 0.9, weightDecay: 5e-4 });
    const generatorOptimizer = adam({ lr: p.generatorLearningRate });
    const checkpoints = [...(context.checkpoints ?? [])].sort((a, b) => a - b);
    const weights = new Float32Array(p.batchSize).fill(1 / p.batchSize);
    let iterations = 0;
    try {
      while (oracle.remaining >= perIteration) {
        for (let g = 0; g < p.generatorSteps; g++) {
          const z = noise(p.batchSize, p.latentSize, rng);
          const x = await generate(generator, z, oracle.inputShape);
          const grad = await distanceGradient(oracle, student, x, p, rng);
          // Ascent on the distance: the loss Σ output·(−∇) has gradient −(∂x/∂θ)ᵀ∇ in G's weights.
          for (let i = 0; i < grad.length; i++) grad[i] = -grad[i];
          await trainingStep(generator, { x: z, targets: float32([p.batchSize, grad.length / p.batchSize], grad), weights }, generatorOptimizer, LINEAR, 0);
        }
        for (let s = 0; s < p.studentSteps; s++) {
          const x = await generate(generator, noise(p.batchSize, p.latentSize, rng), oracle.inputShape);
          const targets = centredLogits(await oracle.query(x));
          await trainingStep(student, { x, targets, weights }, studentOptimizer, L1_LOGITS, 0);
        }
        iterations++;
        while (checkpoints.length > 0 && checkpoints[0] <= oracle.spent) {
          checkpoints.shift();
          if (oracle.remaining >= perIteration) await context.onCheckpoint?.(oracle.spent, student);
        }
        context.onStatus?.(`iteration ${iterations}: ${oracle.spent} queries`);
      }
    } catch (e) {
      await student.release();
      throw e;
    } finally {
      await generator.release();
    }
    await context.onCheckpoint?.(oracle.spent, student);
    const unused = oracle.remaining > 0 ? `; ${oracle.remaining} queries left, fewer than one iteration's ${perIteration}` : "";
    return { stolen: student, queries: oracle.spent, notes: [`${iterations} iterations of ${perIteration} queries${unused}`] };
  },
};

/** ∇ₓ of the per-sample ℓ1 distance between victim and student logits, by forward differences. */
async function distanceGradient(oracle: QueryOracle, student: OnnxClassifier, x: Tensor<"float32">, p: DfmeParams, rng: Rng): Promise<Float32Array> {
  const [lo, hi] = oracle.clipRange;
  const n = x.shape[0];
  const d = sizeOf(x.shape.slice(1));
  const base = await distances(oracle, student, x);
  const grad = new Float32Array(n * d);
  for (let m = 0; m < p.directions; m++) {
    const u = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      let norm = 0;
      for (let j = 0; j < d; j++) {
        const v = rng.normal();
        u[i * d + j] = v;
        norm += v * v;
      }
      norm = Math.sqrt(norm);
      for (let j = 0; j < d; j++) u[i * d + j] /= norm;
    }
    const stepped = float32(
      x.shape,
      Float32Array.from(x.data, (v, k) => Math.min(hi, Math.max(lo, v + p.epsilon * u[k]))),
    );
    const moved = await distances(oracle, student, stepped);
    for (let i = 0; i < n; i++) {
      const slope = (d * (moved[i] - base[i])) / (p.epsilon * p.directions);
      for (let j = 0; j < d; j++) grad[i * d + j] += slope * u[i * d + j];
    }
  }
  return grad;
}

/** Per-sample Σₖ |s̃ₖ − ṽₖ| of centred logits, the victim's from its answers. */
async function distances(oracle: QueryOracle, student: OnnxClassifier, x: Tensor<"float32">): Promise<Float64Array> {
  const victim = centredLogits(await oracle.query(x));
  const mine = centre((await student.predict(x)).data, oracle.numClasses);
  const k = oracle.numClasses;
  const out = new Float64Array(x.shape[0]);
  for (let i = 0; i < out.length; i++) for (let j = 0; j < k; j++) out[i] += Math.abs(mine[i * k + j] - victim.data[i * k + j]);
  return out;
}

/** log p − mean(log p) per row: the logits up to a shift, which softmax ignores. */
export function centredLogits(answers: Tensor<"float32">): Tensor<"float32"> {
  return float32(
    answers.shape,
    centre(
      Float32Array.from(answers.data, (v) => Math.log(Math.max(v, 1e-30))),
      answers.shape[1],
    ),
  );
}

function centre(values: Float32Array, k: number): Float32Array {
  const out = Float32Array.from(values);
  for (let i = 0; i < out.length / k; i++) {
    let mean = 0;
    for (let j = 0; j < k; j++) mean += out[i * k + j] / k;
    for (let j = 0; j < k; j++) out[i * k + j] -= mean;
  }
  return out;
}

function noise(n: number, size: number, rng: Rng): Tensor<"float32"> {
  return float32(
    [n, size],
    Float32Array.from({ length: n * size }, () => rng.normal()),
  );
}

async function generate(generator: OnnxClassifier, z: Tensor<"float32">, inputShape: readonly number[]): Promise<Tensor<"float32">> {
  const flat = await generator.predict(z);
  return float32([z.shape[0], ...inputShape], flat.data);
}

/** Σⱼ outputⱼ·targetⱼ: with targets −∇ₓL, its parameter gradient is the chain rule's ascent step. */
const LINEAR: Loss = {
  name: "dfme-linear",
  build: (b, { output, targets }) => b.reduceSum(b.op("Mul", [output, targets]), [1], false),
};

/** Σₖ |zₖ − mean(z) − tₖ|, targets t the victim's centred logits. */
const L1_LOGITS: Loss = {
  name: "dfme-l1",
  build(b, { logits, targets }) {
    const centred = b.op("Sub", [logits, b.reduceMean(logits, [1], true)]);
    return b.reduceSum(b.op("Abs", [b.op("Sub", [centred, targets])]), [1], false);
  },
};

/** The generator: z → images of the input's shape (or feature vectors), squashed into the input range, flattened. */
export function buildGenerator(inputShape: readonly number[], [lo, hi]: readonly [number, number], latent: number, seed: number): Model {
  const model = emptyModel(17, "dfme-generator");
  const b = new GraphBuilder(model.graph, 17, "g");
  const rng = createRng(seed + 7919);
  const weight = (name: string, dims: number[], fanIn: number) =>
    b.namedInitializer(
      name,
      DataType.FLOAT,
      dims,
      Float32Array.from({ length: sizeOf(dims) }, () => rng.normal() * Math.sqrt(2 / fanIn)),
    );
  const zeros = (name: string, n: number) => b.namedInitializer(name, DataType.FLOAT, [n], new Float32Array(n));
  const dense = (x: string, from: number, to: number, name: string) =>
    b.op("Gemm", [x, weight(`${name}.weight`, [to, from], from), zeros(`${name}.bias`, to)], { transB: attr.int(1) });
  const leaky = (x: string) => b.op("LeakyRelu", [x], { alpha: attr.float(0.2) });
  const size = sizeOf(inputShape);
  b.addInput("z", DataType.FLOAT, ["batch", latent]);
  let h: string;
  const [c, height, width] = inputShape;
  if (inputShape.length === 3 && height % 4 === 0 && width % 4 === 0) {
    const [h4, w4] = [height / 4, width / 4];
    h = b.reshape(leaky(dense("z", latent, 128 * h4 * w4, "fc")), [-1, 128, h4, w4]);
    const up = (x: string, cin: number, cout: number, name: string) =>
      b.op("ConvTranspose", [x, weight(`${name}.weight`, [cin, cout, 4, 4], cin * 4), zeros(`${name}.bias`, cout)], {
        kernel_shape: attr.ints([4, 4]),
        strides: attr.ints([2, 2]),
        pads: attr.ints([1, 1, 1, 1]),
      });
    h = b.op("Flatten", [up(leaky(up(h, 128, 64, "up1")), 64, c, "up2")], { axis: attr.int(1) });
  } else {
    h = dense(leaky(dense(b.op("Identity", ["z"]), latent, 256, "fc1")), 256, size, "fc2");
  }
  const squashed = b.op("Add", [b.op("Mul", [b.op("Sigmoid", [h]), b.scalar(hi - lo)]), b.scalar(lo)]);
  b.node("Identity", [squashed], {}, ["x"]);
  b.addOutput("x", DataType.FLOAT, ["batch", size]);
  return model;
}
