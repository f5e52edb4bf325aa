/**
 * Models Aegis defines in TypeScript and emits as ONNX: the demo and test models,
 * surrogates and shadow models. Initialisation follows PyTorch's defaults
 * (U(±1/√fan_in) for weights and biases), from a seeded generator.
 */
import { createRng, type Rng } from "../data/random.js";
import { AegisError } from "../errors.js";
import { GraphBuilder } from "../onnx/builder.js";
import { attr, DataType, emptyModel, type Model } from "../onnx/ir.js";

export const ARCHITECTURES = ["mlp", "cnn", "resnet-small"] as const;
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

  conv(
    x: string,
    cin: number,
    cout: number,
    kernel: number,
    name: string,
    options: { stride?: number; pad?: number; init?: "default" | "he" | "zero" } = {},
  ): string {
    const fanIn = cin * kernel * kernel;
    const init = options.init ?? "default";
    const dims = [cout, cin, kernel, kernel];
    const w =
      init === "he"
        ? this.normal(dims, Math.sqrt(2 / (cout * kernel * kernel)), `${name}.weight`)
        : this.uniform(dims, init === "zero" ? 0 : 1 / Math.sqrt(fanIn), `${name}.weight`);
    const bias = this.uniform([cout], init === "default" ? 1 / Math.sqrt(fanIn) : 0, `${name}.bias`);
    const pad = options.pad ?? 0;
    const stride = options.stride ?? 1;
    return this.b.op("Conv", [x, w, bias], {
      kernel_shape: attr.ints([kernel, kernel]),
      strides: attr.ints([stride, stride]),
      pads: attr.ints([pad, pad, pad, pad]),
    });
  }

  relu(x: string): string {
    return this.b.op("Relu", [x]);
  }

  flatten(x: string): string {
    return this.b.op("Flatten", [x], { axis: attr.int(1) });
  }
}

export function buildArchitecture(arch: Architecture, options: ArchitectureOptions): Model {
  const { inputShape, numClasses } = options;
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new AegisError("BAD_DATA", `a classifier needs at least 2 classes, the labels show ${numClasses}`);
  const model: Model = {
    ...emptyModel(OPSET, arch),
    producerVersion: "0.1.0",
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
    case "resnet-small": {
      const [c] = imageShape(arch, inputShape);
      // He et al. 2016 residual blocks without BatchNorm: He-initialised convolutions, and
      // the last convolution of each branch starts at zero (as in Fixup, Zhang et al. 2019),
      // so every block starts as the identity and the network trains stably.
      let h = L.relu(L.conv("input", c, 16, 3, "stem", { pad: 1, init: "he" }));
      const block = (x: string, cin: number, cout: number, stride: number, name: string) => {
        let r = L.relu(L.conv(x, cin, cout, 3, `${name}.conv1`, { pad: 1, stride, init: "he" }));
        r = L.conv(r, cout, cout, 3, `${name}.conv2`, { pad: 1, init: "zero" });
        const skip = stride === 1 && cin === cout ? x : L.conv(x, cin, cout, 1, `${name}.proj`, { stride, init: "he" });
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
