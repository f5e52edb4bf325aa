/**
 * A tiny text classifier over token ids, built in TypeScript: ids [N, T] (int64) →
 * embedding [V, D] → positions where the id is not padding (0) averaged → Gemm → logits.
 * The mask reads the ids beside the embedding, as BERT's attention mask does.
 */
import { createRng } from "../../src/data/random.js";
import { GraphBuilder } from "../../src/onnx/builder.js";
import { attr, DataType, emptyModel, type Model } from "../../src/onnx/ir.js";

export function tokenModel(options: { vocabulary: number; dimension: number; length: number; classes: number; seed: number }): Model {
  const { vocabulary: v, dimension: d, length: t, classes: k } = options;
  const rng = createRng(options.seed);
  const model = emptyModel(17, "token-model", "test");
  const b = new GraphBuilder(model.graph, 17, "tiny");
  b.addInput("ids", DataType.INT64, ["batch", t]);
  const table = b.namedInitializer(
    "embedding.weight",
    DataType.FLOAT,
    [v, d],
    Float32Array.from({ length: v * d }, () => rng.normal()),
  );
  const embedded = b.op("Gather", [table, "ids"]);
  const mask = b.cast(b.op("Not", [b.op("Equal", ["ids", b.initializer(DataType.INT64, [], BigInt64Array.of(0n))])]), DataType.FLOAT);
  const summed = b.reduceSum(b.op("Mul", [embedded, b.unsqueeze(mask, [2])]), [1], false);
  const pooled = b.op("Div", [summed, b.op("Max", [b.reduceSum(mask, [1], true), b.scalar(1)])]);
  const w = b.namedInitializer(
    "head.weight",
    DataType.FLOAT,
    [k, d],
    Float32Array.from({ length: k * d }, () => rng.normal()),
  );
  const bias = b.namedInitializer("head.bias", DataType.FLOAT, [k], new Float32Array(k));
  b.node("Gemm", [b.op("Tanh", [pooled]), w, bias], { transB: attr.int(1) }, ["logits"]);
  b.addOutput("logits", DataType.FLOAT, ["batch", k]);
  return model;
}
