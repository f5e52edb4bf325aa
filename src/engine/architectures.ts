/**
 * Models Aegis defines in TypeScript and emits as ONNX: the demo and test models,
 * surrogates and shadow models. Initialisation follows PyTorch's defaults
 * (U(±1/√fan_in) for weights and biases; torchvision's for the ResNet), from a seeded
 * generator.
 */
import { createRng, type Rng } from "../data/random.js";
import { AegisError } from "../errors.js";
import { GraphBuilder } from "../onnx/builder.js";
import { attr, DataType, emptyModel, type Model } from "../onnx/ir.js";
import { AEGIS_VERSION } from "../version.js";

export const ARCHITECTURES = ["mlp", "cnn", "resnet-small", "linear", "he-cnn", "he-mlp", "dp-cnn"] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export interface ArchitectureOptions {
  /** One sample's shape: [features] or [channels, height, width]. */
  inputShape: readonly number[];
  numClasses: number;
  seed?: number;
}

export const OPSET = 17;

class Layers {
  constructor(
    readonly b: GraphBuilder,
    private readonly rng: Rng,
  ) {}

  private uniform(dims: number[], bound: number, name: string): string {
    const n = dims.reduce((a, c) => a * c, 1);
    const data = Float32Array.from({ length: n }, () => (this.rng.next() * 2 - 1) * bound);
    return this.b.namedInitializer(name, DataType.FLOAT, dims, data);
  }

  /** N(0, std²): He et al. 2015 initialisation for ReLU networks. */
  private normal(dims: number[], std: number, name: string): string {
    const n = dims.reduce((a, c) => a * c, 1);
    const data = Float32Array.from({ length: n }, () => this.rng.normal() * std);
    return this.b.namedInitializer(name, DataType.FLOAT, dims, data);
  }

  dense(x: string, inFeatures: number, outFeatures: number, name: string): string {
    const bound = 1 / Math.sqrt(inFeatures);
    const w = this.uniform([outFeatures, inFeatures], bound, `${name}.weight`);
    const bias = this.uniform([outFeatures], bound, `${name}.bias`);
    return this.b.op("Gemm", [x, w, bias], { transB: attr.int(1) });
  }

  /**
   * PyTorch's Conv2d: U(±1/√fan_in) weights and bias; or, before a BatchNorm ("he"), no bias
   * and N(0, 2/fan_out) weights, as torchvision's ResNet (He et al. 2015).
   */
  conv(x: string, cin: number, cout: number, kernel: number, name: string, options: { stride?: number; pad?: number; init?: "default" | "he" } = {}): string {
    const fanIn = cin * kernel * kernel;
    const dims = [cout, cin, kernel, kernel];
    const inputs =
      options.init === "he"
        ? [x, this.normal(dims, Math.sqrt(2 / (cout * kernel * kernel)), `${name}.weight`)]
        : [x, this.uniform(dims, 1 / Math.sqrt(fanIn), `${name}.weight`), this.uniform([cout], 1 / Math.sqrt(fanIn), `${name}.bias`)];
    const pad = options.pad ?? 0;
    const stride = options.stride ?? 1;
    return this.b.op("Conv", inputs, {
      kernel_shape: attr.ints([kernel, kernel]),
      strides: attr.ints([stride, stride]),
      pads: attr.ints([pad, pad, pad, pad]),
    });
  }

  /**
   * BatchNormalization with PyTorch's defaults (momentum 0.1, written as ONNX's 0.9; ε 1e-5),
   * running statistics (0, 1), shift 0 and scale 1 — or 0 to start a residual branch at zero
   * (Goyal et al. 2017).
   */
  batchNorm(x: string, channels: number, name: string, scale: 0 | 1 = 1): string {
    const constant = (suffix: string, value: number) =>
      this.b.namedInitializer(`${name}.${suffix}`, DataType.FLOAT, [channels], new Float32Array(channels).fill(value));
    const inputs = [x, constant("weight", scale), constant("bias", 0), constant("running_mean", 0), constant("running_var", 1)];
    return this.b.op("BatchNormalization", inputs, { epsilon: attr.float(1e-5), momentum: attr.float(0.9) });
  }

  relu(x: string): string {
    return this.b.op("Relu", [x]);
  }

  flatten(x: string): string {
    return this.b.op("Flatten", [x], { axis: attr.int(1) });
  }

  tanh(x: string): string {
    return this.b.op("Tanh", [x]);
  }

  /** x², the activation of CryptoNets (Gilad-Bachrach et al. 2016): one multiplication under homomorphic encryption. */
  square(x: string): string {
    return this.b.op("Mul", [x, x]);
  }
}

export function buildArchitecture(arch: Architecture, options: ArchitectureOptions): Model {
  const { inputShape, numClasses } = options;
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new AegisError("BAD_DATA", `a classifier needs at least 2 classes, the labels show ${numClasses}`);
  const model: Model = {
    ...emptyModel(OPSET, arch),
    producerVersion: AEGIS_VERSION,
    modelVersion: 1,
    docString: `Aegis ${arch}`,
    metadata: [
      { key: "aegis.arch", value: arch },
      { key: "aegis.num_classes", value: String(numClasses) },
    ],
  };
  const b = new GraphBuilder(model.graph, OPSET, "m");
  const L = new Layers(b, createRng(options.seed ?? 0));
  b.addInput("input", DataType.FLOAT, ["batch", ...inputShape]);
  let logits: string;
  const features = inputShape.reduce((a, c) => a * c, 1);
  switch (arch) {
    case "mlp": {
      let h = inputShape.length > 1 ? L.flatten("input") : "input";
      h = L.relu(L.dense(h, features, 256, "fc1"));
      h = L.relu(L.dense(h, 256, 128, "fc2"));
      logits = L.dense(h, 128, numClasses, "fc3");
      break;
    }
    case "cnn": {
      const [c, height, width] = imageShape(arch, inputShape);
      // Two 3×3 convolutions (32, 64), 2×2 max-pool, dense 128, dense K: the classic MNIST CNN.
      let h = L.relu(L.conv("input", c, 32, 3, "conv1"));
      h = L.relu(L.conv(h, 32, 64, 3, "conv2"));
      h = b.op("MaxPool", [h], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
      const pooled = 64 * Math.floor((height - 4) / 2) * Math.floor((width - 4) / 2);
      h = L.relu(L.dense(L.flatten(h), pooled, 128, "fc1"));
      logits = L.dense(h, 128, numClasses, "fc2");
      break;
    }
    case "linear": {
      // Multinomial logistic regression (softmax of one affine map); two classes make it the logistic regression.
      logits = L.dense(inputShape.length > 1 ? L.flatten("input") : "input", features, numClasses, "fc");
      break;
    }
    case "he-cnn": {
      const [c, height, width] = imageShape(arch, inputShape);
      // TenSEAL's encrypted-MNIST tutorial network: conv 4×7×7 stride 3, x², dense 64, x², dense K.
      const h = L.square(L.conv("input", c, 4, 7, "conv1", { stride: 3 }));
      const flat = 4 * (Math.floor((height - 7) / 3) + 1) * (Math.floor((width - 7) / 3) + 1);
      logits = L.dense(L.square(L.dense(L.flatten(h), flat, 64, "fc1")), 64, numClasses, "fc2");
      break;
    }
    case "he-mlp": {
      // A dense network with x² activations for encrypted inference: dense 64, x², dense K.
      logits = L.dense(L.square(L.dense(inputShape.length > 1 ? L.flatten("input") : "input", features, 64, "fc1")), 64, numClasses, "fc2");
      break;
    }
    case "dp-cnn": {
      const [c, height, width] = imageShape(arch, inputShape);
      // The DP-SGD CNN of Papernot, Thakurta, Song, Chien & Erlingsson 2020 ("Tempered Sigmoid
      // Activations for Deep Learning with Differential Privacy"), also Tramèr & Boneh 2021's
      // end-to-end MNIST baseline and the model of TF Privacy's and Opacus's MNIST examples:
      // conv 16 8×8 stride 2 (pad 3), 2×2 max-pool stride 1, conv 32 4×4 stride 2, 2×2 max-pool
      // stride 1, dense 32, dense K; tanh throughout (bounded activations keep gradients small,
      // so less is lost to clipping) and no BatchNorm, which DP-SGD cannot train. 26k parameters.
      const pool = (x: string) => b.op("MaxPool", [x], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([1, 1]) });
      let h = pool(L.tanh(L.conv("input", c, 16, 8, "conv1", { stride: 2, pad: 3 })));
      const [h1, w1] = [Math.floor((height - 2) / 2) + 1 - 1, Math.floor((width - 2) / 2) + 1 - 1];
      h = pool(L.tanh(L.conv(h, 16, 32, 4, "conv2", { stride: 2 })));
      const [h2, w2] = [Math.floor((h1 - 4) / 2) + 1 - 1, Math.floor((w1 - 4) / 2) + 1 - 1];
      if (!(h2 >= 1 && w2 >= 1)) throw new AegisError("BAD_OPTION", `--arch dp-cnn needs images of at least 14×14 pixels, the data has ${height}×${width}`);
      h = L.tanh(L.dense(L.flatten(h), 32 * h2 * w2, 32, "fc1"));
      logits = L.dense(h, 32, numClasses, "fc2");
      break;
    }
    case "resnet-small": {
      const [c] = imageShape(arch, inputShape);
      // He et al. 2016 residual blocks, Conv-BN-ReLU-Conv-BN plus the skip (a 1×1 Conv-BN
      // where the shape changes), then ReLU. The last BatchNorm of each branch starts at
      // scale 0, so every block starts as the identity.
      const convBn = (x: string, cin: number, cout: number, kernel: number, name: string, stride = 1, scale: 0 | 1 = 1) =>
        L.batchNorm(L.conv(x, cin, cout, kernel, `${name}.conv`, { pad: (kernel - 1) / 2, stride, init: "he" }), cout, `${name}.bn`, scale);
      let h = L.relu(convBn("input", c, 16, 3, "stem"));
      const block = (x: string, cin: number, cout: number, stride: number, name: string) => {
        const r = convBn(L.relu(convBn(x, cin, cout, 3, `${name}.branch1`, stride)), cout, cout, 3, `${name}.branch2`, 1, 0);
        const skip = stride === 1 && cin === cout ? x : convBn(x, cin, cout, 1, `${name}.proj`, stride);
        return L.relu(b.op("Add", [r, skip]));
      };
      h = block(h, 16, 16, 1, "block1");
      h = block(h, 16, 32, 2, "block2");
      h = block(h, 32, 64, 2, "block3");
      h = L.flatten(b.op("GlobalAveragePool", [h]));
      logits = L.dense(h, 64, numClasses, "fc");
      break;
    }
  }
  b.node("Identity", [logits], {}, ["logits"]);
  b.addOutput("logits", DataType.FLOAT, ["batch", numClasses]);
  return model;
}

function imageShape(arch: string, shape: readonly number[]): [number, number, number] {
  if (shape.length !== 3) {
    throw new AegisError(
      "BAD_OPTION",
      `--arch ${arch} needs image samples [channels, height, width], the data has [${shape.join(", ")}]; use --arch mlp for tabular data`,
    );
  }
  return [shape[0], shape[1], shape[2]];
}
