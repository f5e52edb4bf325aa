/**
 * `aegis inspect` and `aegis grad` never disagree: for every ONNX model among the test
 * fixtures and the bundled models, and for models whose gradient a rule refuses while it is
 * being built, inspect's verdict (differentiable, or the nodes that stop the gradient, or
 * why no gradient graph can be built) is what taking a gradient at the probed shape does.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { summarizeModel } from "../../src/engine/inspect.js";
import { openClassifier, TokenClassifier } from "../../src/engine/token-classifier.js";
import { AegisError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/onnx/builder.js";
import { loadModel } from "../../src/onnx/io.js";
import { attr, DataType, emptyModel, type Model } from "../../src/onnx/ir.js";
import { float32 } from "../../src/tensor.js";

const repo = new URL("../../", import.meta.url).pathname;
const models = ["fixtures", "models"]
  .flatMap((folder) => (readdirSync(join(repo, folder), { recursive: true }) as string[]).map((f) => join(folder, f)))
  .filter((f) => f.endsWith(".onnx"))
  .sort();

/** The gradient grad takes, at `shape`; the error it gives when there is none. */
async function tryGradient(model: Model, shape: number[]): Promise<string | undefined> {
  let clf: Awaited<ReturnType<typeof openClassifier>> | undefined;
  try {
    clf = await openClassifier(structuredClone(model), { threads: 1 });
    const n = shape.reduce((a, c) => a * c, 1);
    const labels = new Array<number>(shape[0]).fill(0);
    if (clf instanceof TokenClassifier) {
      // Ids 1 … vocabulary − 1: 0 is often padding.
      const vocabulary = clf.vocabulary;
      const ids = float32(
        shape,
        Array.from({ length: n }, (_, i) => 1 + (i % (vocabulary - 1))),
      );
      await clf.embeddingGradient(ids, clf.embed(ids), labels);
    } else {
      await clf.lossGradient(
        float32(
          shape,
          Array.from({ length: n }, (_, i) => (i % 10) / 10),
        ),
        labels,
      );
    }
    return undefined;
  } catch (e) {
    if (e instanceof AegisError) return e.message;
    throw e;
  } finally {
    await clf?.release();
  }
}

/** Asserts that inspect and grad agree on `model`; returns inspect's summary. */
async function assertAgree(label: string, model: Model) {
  const summary = await summarizeModel(structuredClone(model), { threads: 1 });
  // No probed shape: the model could not be wrapped or run, so any shape shows grad failing too.
  const error = await tryGradient(model, summary.probedShape ?? [2, 1]);
  assert.equal(summary.differentiable, error === undefined, `${label}: inspect says differentiable ${summary.differentiable}, grad says ${error ?? "ok"}`);
  for (const node of summary.nonDifferentiable) assert.ok(error?.includes(`"${node.name}"`), `${label}: grad does not name ${node.name}: ${error}`);
  if (summary.gradientError && summary.probedShape) assert.equal(error, summary.gradientError, label);
  return summary;
}

test(`inspect agrees with grad on every fixture and bundled model (${models.length} files)`, async () => {
  assert.ok(models.length >= 25, `found ${models.length} models`);
  let checked = 0;
  for (const file of models) {
    let model: Model;
    try {
      model = loadModel(join(repo, file));
    } catch (e) {
      // Not a readable model (a scanner fixture): neither command gets that far.
      assert.ok(e instanceof AegisError, `${file}: ${e}`);
      continue;
    }
    await assertAgree(file, model);
    checked++;
  }
  assert.ok(checked >= 20, `checked ${checked}`);
});

/**
 * x [N,1,4,4] → two branches, each Resize ×2 then a Gemm to 3 logits, summed. `modes` are the
 * branches' Resize modes; cubic has no rule, and the refusal comes from inside the rule.
 */
function resizeModel(modes: [string, string]): Model {
  const model = emptyModel(13, "resize-branches", "test");
  const b = new GraphBuilder(model.graph, 13, "m");
  b.addInput("x", DataType.FLOAT, ["batch", 1, 4, 4]);
  const scales = b.initializer(DataType.FLOAT, [4], Float32Array.of(1, 1, 2, 2));
  const branches = modes.map((mode, i) => {
    const [up] = b.node("Resize", ["x", "", scales], { mode: attr.string(mode) }, [`resize_${i}`]);
    const w = b.initializer(
      DataType.FLOAT,
      [3, 64],
      Float32Array.from({ length: 192 }, (_, k) => Math.sin(k + i)),
    );
    return b.op("Gemm", [b.op("Flatten", [up]), w], { transB: attr.int(1) });
  });
  b.node("Add", branches, {}, ["logits"]);
  b.addOutput("logits", DataType.FLOAT, ["batch", 3]);
  return model;
}

/** The name the builder gave the node that writes `output`. */
const writer = (model: Model, output: string) => model.graph.nodes.find((n) => n.outputs.includes(output))?.name;

test("inspect agrees with grad where a rule refuses while the graph is built, and names every refused node", async () => {
  const oneCubic = resizeModel(["linear", "cubic"]);
  const one = await assertAgree("one cubic Resize", oneCubic);
  assert.equal(one.differentiable, false);
  assert.deepEqual(
    one.nonDifferentiable.map((p) => p.name),
    [writer(oneCubic, "resize_1")],
  );
  assert.match(one.nonDifferentiable[0].reason, /mode "cubic"/);
  const twoCubic = resizeModel(["cubic", "cubic"]);
  const both = await assertAgree("two cubic Resizes", twoCubic);
  assert.deepEqual(both.nonDifferentiable.map((p) => p.name).sort(), [writer(twoCubic, "resize_0"), writer(twoCubic, "resize_1")].sort());
  const none = await assertAgree("linear and nearest Resizes", resizeModel(["linear", "nearest"]));
  assert.equal(none.differentiable, true);
});
