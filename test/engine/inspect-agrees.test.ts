/**
 * `aegis inspect` and `aegis grad` never disagree: for every ONNX model among the test
 * fixtures and the bundled models, inspect's verdict (differentiable, or the nodes that stop the gradient, or why
 * no gradient graph can be built) is what taking a gradient at the probed shape does.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { summarizeModel } from "../../src/engine/inspect.js";
import { openClassifier, TokenClassifier } from "../../src/engine/token-classifier.js";
import { AegisError } from "../../src/errors.js";
import { loadModel } from "../../src/onnx/io.js";
import { float32 } from "../../src/tensor.js";

const repo = new URL("../../", import.meta.url).pathname;
const models = ["fixtures", "models"]
  .flatMap((folder) => (readdirSync(join(repo, folder), { recursive: true }) as string[]).map((f) => join(folder, f)))
  .filter((f) => f.endsWith(".onnx"))
  .sort();

/** The gradient grad takes, at `shape`; the error it gives when there is none. */
async function tryGradient(path: string, shape: number[]): Promise<string | undefined> {
  let clf: Awaited<ReturnType<typeof openClassifier>> | undefined;
  try {
    clf = await openClassifier(loadModel(path), { threads: 1 });
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

test(`inspect agrees with grad on every fixture model (${models.length} files)`, async () => {
  assert.ok(models.length >= 25, `found ${models.length} models`);
  let checked = 0;
  for (const file of models) {
    const path = join(repo, file);
    let model: ReturnType<typeof loadModel>;
    try {
      model = loadModel(path);
    } catch (e) {
      // Not a readable model (a scanner fixture): neither command gets that far.
      assert.ok(e instanceof AegisError, `${file}: ${e}`);
      continue;
    }
    const summary = await summarizeModel(model, { threads: 1 });
    // No probed shape: the model could not be wrapped or run, so any shape shows grad failing too.
    const error = await tryGradient(path, summary.probedShape ?? [2, 1]);
    assert.equal(summary.differentiable, error === undefined, `${file}: inspect says differentiable ${summary.differentiable}, grad says ${error ?? "ok"}`);
    for (const node of summary.nonDifferentiable) assert.ok(error?.includes(`"${node.name}"`), `${file}: grad does not name ${node.name}: ${error}`);
    if (summary.gradientError && summary.probedShape) assert.equal(error, summary.gradientError, file);
    checked++;
  }
  assert.ok(checked >= 20, `checked ${checked}`);
});
