/**
 * Bakes input preprocessors into an ONNX model, in front of its graph, so that the deployed
 * file carries its defence (issue 4: `aegis defend`). Expressible in standard ONNX ops:
 * feature squeezing (Xu, Evans & Qi 2018) as Sub, Mul, Round, Div, Add — the same float32
 * operations as the TypeScript preprocessor, so the two agree bit for bit; median smoothing
 * (same paper) as a Gather of every pixel's window (SciPy-"reflect" padding resolved into
 * the index table), TopK of the smallest half and ReduceMax, which selects exactly the value
 * the TypeScript filter keeps; Gaussian noise as RandomNormalLike, Add and Clip (a fresh
 * draw per run, so it cannot be compared value for value). JPEG compression and
 * total-variation minimisation are iterative or block-wise integer codecs with no ONNX
 * equivalent: they stay run-time wrappers. Because the wrapper runs before the model, only
 * the longest expressible tail of the chain can be baked; everything before it is returned
 * as run-time preprocessors. The baked graph keeps the model's input name and opset. Round has
 * no gradient, so autodiff through a baked squeezer yields exactly zero (the gradient masking
 * a naive attacker meets); adaptive attacks go through the run-time wrapper (BPDA) instead.
 */
import { AegisError } from "../errors.js";
import { GraphBuilder } from "../onnx/builder.js";
import { attr, cloneModel, DataType, defaultOpset, type Graph, type Model } from "../onnx/ir.js";
import type { FeatureSqueezing } from "./preprocessors/feature-squeezing.js";
import type { GaussianNoise } from "./preprocessors/gaussian-noise.js";
import { medianRank, medianWindowIndices, type SpatialSmoothing } from "./preprocessors/spatial-smoothing.js";
import type { Preprocessor } from "./types.js";

export interface BakeResult {
  /** The model with the baked preprocessors in front of its graph. */
  model: Model;
  /** Preprocessors now inside the model, in order. */
  baked: Preprocessor[];
  /** Preprocessors that must still run before the model (they come first), in order. */
  runtime: Preprocessor[];
}

type Bakeable = FeatureSqueezing | SpatialSmoothing | GaussianNoise;

/** Whether a preprocessor has an ONNX form. */
export function isBakeable(p: Preprocessor): p is Bakeable {
  const kind = (p as Partial<Bakeable>).kind;
  return kind === "feature-squeezing" || kind === "spatial-smoothing" || kind === "gaussian-noise";
}

export function bakePreprocessors(source: Model, preprocessors: readonly Preprocessor[]): BakeResult {
  let split = preprocessors.length;
  while (split > 0 && isBakeable(preprocessors[split - 1]!)) split--;
  const runtime = preprocessors.slice(0, split);
  const baked = preprocessors.slice(split) as Bakeable[];
  const model = cloneModel(source);
  if (baked.length === 0) return { model, baked: [], runtime };
  const opset = defaultOpset(model);
  if (opset < 13)
    throw new AegisError(
      "UNSUPPORTED",
      `baking preprocessors needs a model of opset 13 or later (this one imports ${opset}); convert it with onnx's version converter first`,
    );

  const graph = model.graph;
  const initializerNames = new Set(graph.initializers.map((t) => t.name));
  const input = graph.inputs.find((i) => !initializerNames.has(i.name));
  if (!input || input.elemType !== DataType.FLOAT) throw new AegisError("UNSUPPORTED", "baking preprocessors needs a model with one float32 input");
  const b = new GraphBuilder(graph, opset, "defence");
  // The original nodes now read the defended input; the graph's input keeps its name.
  const defended = b.fresh("defended_input");
  renameUses(graph, input.name, defended);
  const before = graph.nodes.length;
  let value = input.name;
  const sample = (input.shape ?? []).slice(1);
  for (const p of baked) {
    if (p.kind === "feature-squeezing") value = emitSqueezing(b, value, p);
    else if (p.kind === "spatial-smoothing") value = emitMedian(b, value, p, sample);
    else value = emitNoise(b, value, p);
  }
  b.node("Identity", [value], {}, [defended]);
  const added = graph.nodes.splice(before);
  graph.nodes.unshift(...added);
  model.metadata = [...model.metadata.filter((m) => m.key !== "aegis.defence"), { key: "aegis.defence", value: JSON.stringify(baked.map((p) => p.name)) }];
  return { model, baked, runtime };
}

/** Points every node input (and graph output) named `from` at `to`. */
function renameUses(graph: Graph, from: string, to: string): void {
  for (const n of graph.nodes) {
    n.inputs = n.inputs.map((i) => (i === from ? to : i));
    for (const a of Object.values(n.attributes)) {
      if (a.type === "graph" || a.type === "graphs") {
        throw new AegisError("UNSUPPORTED", `node ${n.name} (${n.opType}) has a subgraph; baking preprocessors into models with control flow is not supported`);
      }
    }
  }
  for (const o of graph.outputs) if (o.name === from) throw new AegisError("UNSUPPORTED", "the model returns its input unchanged; there is nothing to defend");
}

function emitSqueezing(b: GraphBuilder, x: string, p: FeatureSqueezing): string {
  const low = b.scalar(p.clipRange[0]);
  const scale = b.scalar(p.scale);
  const level = b.op("Round", [b.op("Mul", [b.op("Sub", [x, low]), scale])]);
  return b.op("Add", [b.op("Div", [level, scale]), low]);
}

function emitMedian(b: GraphBuilder, x: string, p: SpatialSmoothing, sample: readonly (number | string | undefined)[]): string {
  const dims = sample.map((d) => (typeof d === "number" && d > 0 ? d : undefined));
  if (dims.some((d) => d === undefined) || (dims.length !== 2 && dims.length !== 3)) {
    throw new AegisError(
      "UNSUPPORTED",
      `baking a median filter needs the model's sample shape to be a fixed image ([C, H, W], [H, W, C] or [H, W]); it is [${sample.join(", ")}]`,
    );
  }
  const shape = dims as number[];
  const [height, width] = shape.length === 2 ? shape : p.channelsFirst ? shape.slice(1) : shape.slice(0, 2);
  const k = p.windowSize * p.windowSize;
  const table = medianWindowIndices(height!, width!, p.windowSize);
  const indices = b.initializer(
    DataType.INT64,
    [height! * width!, k],
    BigInt64Array.from(table, (v) => BigInt(v)),
    "median_window",
  );
  // Flatten the plane, gather each pixel's window on a new axis, keep the smallest rank+1 values, take their maximum.
  const channelsLast = shape.length === 3 && !p.channelsFirst;
  const flatShape = shape.length === 2 ? [0, height! * width!] : channelsLast ? [0, height! * width!, shape[2]!] : [0, shape[0]!, height! * width!];
  const pixelAxis = shape.length === 2 || channelsLast ? 1 : 2;
  const windows = b.op("Gather", [b.reshape(x, flatShape), indices], { axis: attr.int(pixelAxis) });
  const windowAxis = pixelAxis + 1;
  const [smallest] = b.node(
    "TopK",
    [windows, b.int64s([medianRank(p.windowSize) + 1])],
    { axis: attr.int(windowAxis), largest: attr.int(0), sorted: attr.int(1) },
    2,
  );
  const medians = b.reduceMax(smallest!, [windowAxis], false);
  return b.reshape(medians, [0, ...shape]);
}

function emitNoise(b: GraphBuilder, x: string, p: GaussianNoise): string {
  const noise = b.op("RandomNormalLike", [x], { dtype: attr.int(DataType.FLOAT), mean: attr.float(0), scale: attr.float(p.sigma) });
  const noisy = b.op("Add", [x, noise]);
  if (!p.clipRange) return noisy;
  return b.op("Clip", [noisy, b.scalar(p.clipRange[0]), b.scalar(p.clipRange[1])]);
}
