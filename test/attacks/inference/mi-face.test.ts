/**
 * MI-Face model inversion (Fredrikson et al. 2015) on the bundled MNIST CNN: from a grey
 * start, 100 steps of descent on 1 − f_c give, for every digit, an input the model is sure
 * of and that is closer to that digit's mean image in the real data than to any other
 * digit's for nearly all classes. The control, the same CNN with random weights, must fail
 * that test: what the inversion recovers comes from what the trained model learned.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { classMeans, inversionSimilarity, MI_FACE_DEFAULTS, miFace } from "../../../src/attacks/inference/mi-face.js";
import { loadMnist } from "../../../src/data/index.js";
import { buildArchitecture } from "../../../src/engine/architectures.js";
import { OnnxClassifier } from "../../../src/engine/classifier.js";
import { isAegisError } from "../../../src/errors.js";
import { labelsOf } from "../../../src/tensor.js";

const demo = new URL("../../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { train } = loadMnist();
const means = classMeans(train.x, labelsOf(train.y), 10);
const classes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const options = { ...MI_FACE_DEFAULTS, maxIter: 100, learningRate: 0.5, threshold: 0.999 };

test("the trained CNN's inversions are confident and nearest their own class mean", async (t) => {
  const model = await OnnxClassifier.fromFile(demo);
  try {
    const inversion = await miFace(model, classes, options);
    const similarity = inversionSimilarity(inversion, classes, means);
    t.diagnostic(`confidence ${inversion.confidence.map((c) => c.toFixed(3)).join(" ")}; rank ${similarity.rank.join(" ")}`);
    for (const [i, c] of inversion.confidence.entries()) assert.ok(c > 0.9, `class ${i}: confidence ${c}`);
    const first = similarity.rank.filter((r) => r === 1).length;
    assert.ok(first >= 8, `only ${first} of 10 reconstructions are nearest their own class mean`);
    const own = classes.map((c, i) => similarity.correlation[i][c]);
    const others = classes.flatMap((c, i) => similarity.correlation[i].filter((_, j) => j !== c));
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    assert.ok(mean(own) > mean(others) + 0.2, `correlation with own class mean ${mean(own)}, with the others ${mean(others)}`);
    // The reconstructions stay inside the input range.
    assert.ok(inversion.x.data.every((v) => v >= 0 && v <= 1));
  } finally {
    await model.release();
  }
});

test("control: a CNN with random weights gives nothing recognisable", async (t) => {
  const model = await OnnxClassifier.create(buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 9 }));
  try {
    const inversion = await miFace(model, classes, options);
    const similarity = inversionSimilarity(inversion, classes, means);
    const first = similarity.rank.filter((r) => r === 1).length;
    t.diagnostic(`rank ${similarity.rank.join(" ")}`);
    assert.ok(first <= 4, `${first} of 10 reconstructions of a random model are nearest their class mean`);
  } finally {
    await model.release();
  }
});

test("bad options are refused with a sentence", async () => {
  const model = await OnnxClassifier.fromFile(demo);
  try {
    await assert.rejects(miFace(model, [10], options), (e) => isAegisError(e) && e.code === "BAD_OPTION" && /classes 0\.\.9/.test(e.message));
    await assert.rejects(miFace(model, [0], { ...options, maxIter: 0 }), (e) => isAegisError(e) && e.code === "BAD_OPTION");
  } finally {
    await model.release();
  }
});
