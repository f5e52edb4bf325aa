import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { attackByName } from "../../src/attacks/index.js";
import { loadMnist } from "../../src/data/mnist.js";
import { createRng } from "../../src/data/random.js";
import { defend } from "../../src/defenses/defended-classifier.js";
import { labelsOnly } from "../../src/defenses/postprocessors/labels-only.js";
import { featureSqueezing } from "../../src/defenses/preprocessors/feature-squeezing.js";
import { gaussianNoise } from "../../src/defenses/preprocessors/gaussian-noise.js";
import { spatialSmoothing } from "../../src/defenses/preprocessors/spatial-smoothing.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { softmaxRows } from "../../src/engine/probabilities.js";
import { isAegisError } from "../../src/errors.js";
import { labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

describe("defend: a classifier wrapped in pre- and postprocessors", () => {
  let model: OnnxClassifier;
  let x: Tensor<"float32">;
  let y: number[];
  before(async () => {
    model = await OnnxClassifier.fromFile("models/mnist-cnn.onnx");
    const test = loadMnist().test;
    x = sliceRows(test.x, 0, 16);
    y = labelsOf(test.y).slice(0, 16);
  });
  after(async () => model.release());

  const chain = () => [spatialSmoothing({ windowSize: 3 }), featureSqueezing({ bitDepth: 3 })];

  it("predicts the model's output on the preprocessed input", async () => {
    const defended = defend(model, { preprocessors: chain() });
    const pre = chain().reduce((t, p) => p.apply(t), x);
    assert.deepEqual(await defended.predict(x), await model.predict(pre));
    assert.equal(defended.outputKind, "logits");
    assert.deepEqual(defended.inputShape, model.inputShape);
  });

  it("postprocessors shape what the caller sees: probabilities, then e.g. labels only", async () => {
    const defended = defend(model, { postprocessors: [labelsOnly()] });
    assert.equal(defended.outputKind, "probs");
    const out = await defended.predict(x);
    const logits = await model.predict(x);
    for (let i = 0; i < 16; i++) {
      const row = Array.from(out.data.subarray(i * 10, i * 10 + 10));
      const best = Array.from(logits.data.subarray(i * 10, i * 10 + 10)).reduce((b, v, j, r) => (v > r[b]! ? j : b), 0);
      assert.deepEqual(
        row,
        Array.from({ length: 10 }, (_, j) => (j === best ? 1 : 0)),
      );
    }
  });

  it("BPDA gradients are the model's gradients at pre(x), passed straight through", async () => {
    const defended = defend(model, { preprocessors: chain() });
    const pre = chain().reduce((t, p) => p.apply(t), x);
    const expected = await model.lossGradient(pre, y);
    assert.ok(expected.data.some((v) => v !== 0));
    assert.deepEqual((await defended.lossGradient(x, y)).data, expected.data);
    const cls = y.map((c) => (c + 1) % 10);
    assert.deepEqual((await defended.classGradient(x, cls)).data, (await model.classGradient(pre, cls)).data);
    // Naive gradients stop at the quantiser.
    const naive = defend(model, { preprocessors: chain(), gradient: "naive" });
    assert.ok((await naive.lossGradient(x, y)).data.every((v) => v === 0));
  });

  it("valueAndGradient is consistent with predict and lossGradient (per-sample losses of the shown outputs)", async () => {
    const defended = defend(model, { preprocessors: chain() });
    const { loss, output, grad } = await defended.valueAndGradient(x, y);
    assert.deepEqual(output, await defended.predict(x));
    assert.deepEqual(grad.data, (await defended.lossGradient(x, y)).data);
    const probs = softmaxRows(output);
    for (let i = 0; i < 16; i++) assert.ok(Math.abs(loss[i]! + Math.log(probs.data[i * 10 + y[i]!]!)) < 1e-4, `sample ${i}`);
  });

  it("EOT averages the gradient over fresh draws of a randomised preprocessor", async () => {
    const withEot = defend(model, { preprocessors: [gaussianNoise({ sigma: 0.3, seed: 9 })], eot: 4 });
    assert.equal(withEot.eot, 4);
    const single = defend(model, { preprocessors: [gaussianNoise({ sigma: 0.3, seed: 9 })] });
    const draws: Tensor<"float32">[] = [];
    for (let d = 0; d < 4; d++) draws.push(await single.lossGradient(x, y));
    const mean = draws[0]!.data.map((_, k) => draws.reduce((s, g) => s + g.data[k]!, 0) / 4);
    assert.ok(maxAbsDiff((await withEot.lossGradient(x, y)).data, mean) < 1e-6);
    // Averaging reduces the variance: two EOT-10 estimates agree better than two single draws.
    const eot10 = defend(model, { preprocessors: [gaussianNoise({ sigma: 0.3, seed: 10 })], eot: 10 });
    const agreementEot = cosine((await eot10.lossGradient(x, y)).data, (await eot10.lossGradient(x, y)).data);
    const agreementSingle = cosine(draws[0]!.data, draws[1]!.data);
    assert.ok(agreementEot > agreementSingle + 0.1, `cosine ${agreementEot} with EOT, ${agreementSingle} without`);
    // A deterministic chain needs no draws.
    assert.equal(defend(model, { preprocessors: chain(), eot: 10 }).eot, 1);
  });

  it("existing attacks run on it unchanged and stay in their budget", async () => {
    const defended = defend(model, { preprocessors: [spatialSmoothing({ windowSize: 2 })] });
    for (const name of ["fgsm", "pgd", "deepfool"]) {
      const attack = attackByName(name)!;
      const out = await attack.run(defended, x, y, { ...attack.defaults, eps: 0.3, norm: "inf" }, { rng: createRng(1) });
      assert.deepEqual(out.x.shape, x.shape);
      if (name !== "deepfool") assert.ok(maxAbsDiff(out.x.data, x.data) <= 0.3 + 1e-5, name);
    }
  });

  it("rejects a non-integer eot", () => {
    assert.throws(
      () => defend(model, { eot: 0 }),
      (e: unknown) => isAegisError(e) && e.code === "BAD_OPTION",
    );
  });
});
