/**
 * Trigger-set watermarks at small scale: MLPs on 2,000 built-in digits, 100 triggers. The
 * marked model must verify and an independently trained one must not; the mark must cost
 * little clean accuracy and survive fine-tuning on 10% of the training data and pruning;
 * a Copycat copy is measured too (the full-scale numbers, with the bundled CNN, are in
 * `npm run bench`, bench/watermark.ts). Also the exact binomial tail and the key file.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { binomialUpperTail } from "../../src/binomial.js";
import { loadMnist } from "../../src/data/index.js";
import {
  embedWatermark,
  encodeWatermarkKey,
  fineTuneModel,
  keyTriggers,
  lastLayerInitializers,
  logBinomialUpperTail,
  makeTriggerSet,
  pruneByMagnitude,
  readWatermarkKey,
  retrainModel,
  stealWithCopycat,
  verifyWatermark,
  type WatermarkVerification,
} from "../../src/defenses/index.js";
import { adam, buildArchitecture, HttpPredictor, OnnxClassifier, train } from "../../src/engine/index.js";
import { countCorrect } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import type { Model } from "../../src/onnx/ir.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { float32, labelsOf, sliceRows } from "../../src/tensor.js";

const SHAPE = [1, 28, 28];
const TRAIN = 2000;
const { train: mnistTrain, test: mnistTest } = loadMnist();
const data = { x: sliceRows(mnistTrain.x, 0, TRAIN), labels: labelsOf(mnistTrain.y).slice(0, TRAIN) };
// The thief's 10%: digits of the task the owner did not train on.
const thiefShare = { x: sliceRows(mnistTrain.x, TRAIN, TRAIN * 1.1), labels: labelsOf(mnistTrain.y).slice(TRAIN, TRAIN * 1.1) };
const testSet = { x: sliceRows(mnistTest.x, 0, 1000), labels: labelsOf(mnistTest.y).slice(0, 1000) };
const triggers = makeTriggerSet(SHAPE, 10, { count: 100, seed: 7, clipRange: [0, 1] });

async function trained(seed: number, mark: boolean): Promise<Model> {
  const classifier = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: SHAPE, numClasses: 10, seed }), { trainable: true, batchSize: 64 });
  const options = { epochs: 5, batchSize: 64, optimizer: adam({ lr: 1e-3 }), seed };
  if (mark) await embedWatermark(classifier, data, triggers, options);
  else await train(classifier, data, options);
  const model = classifier.exportModel();
  await classifier.release();
  return model;
}

async function measure(model: Model): Promise<{ accuracy: number; verification: WatermarkVerification }> {
  const classifier = await OnnxClassifier.create(model);
  const accuracy = countCorrect(await classifier.predict(testSet.x), testSet.labels) / testSet.labels.length;
  const verification = await verifyWatermark(classifier, triggers, { numClasses: 10 });
  await classifier.release();
  return { accuracy, verification };
}

const clean = await trained(1, false);
const marked = await trained(2, true);

test("the log-space binomial tail equals the incomplete-beta tail where both are representable, and stays finite where the p-value underflows", () => {
  for (const [n, p] of [
    [20, 0.1],
    [100, 0.1],
    [37, 0.5],
  ]) {
    for (let k = 0; k <= n; k++) {
      const direct = binomialUpperTail(k, n, p);
      const logged = logBinomialUpperTail(k, n, p);
      assert.ok(Math.abs(Math.exp(logged) - direct) <= 1e-12 + 1e-9 * direct, `n=${n} p=${p} k=${k}: ${Math.exp(logged)} vs ${direct}`);
    }
  }
  // 100 of 100 at chance 1/10 is exactly 10⁻¹⁰⁰; 1,000 of 1,000 is 10⁻¹⁰⁰⁰, far below the smallest double.
  assert.ok(Math.abs(logBinomialUpperTail(100, 100, 0.1) / Math.LN10 + 100) < 1e-9);
  assert.ok(Math.abs(logBinomialUpperTail(1000, 1000, 0.1) / Math.LN10 + 1000) < 1e-6);
  assert.equal(logBinomialUpperTail(0, 100, 0.1), 0);
  assert.equal(logBinomialUpperTail(101, 100, 0.1), Number.NEGATIVE_INFINITY);
  // The threshold of the default key: 21 of 100 is the first count below 10⁻³ (exact sums by Python's integer binomials).
  assert.ok(Math.abs(Math.exp(logBinomialUpperTail(20, 100, 0.1)) / 0.0019785608657712376 - 1) < 1e-12);
  assert.ok(Math.abs(Math.exp(logBinomialUpperTail(21, 100, 0.1)) / 0.0008075738743662686 - 1) < 1e-12);
});

test("the trigger set is a function of its seed: coarse 8-bit blocks in the input range, with labels over every class", () => {
  const again = makeTriggerSet(SHAPE, 10, { count: 100, seed: 7, clipRange: [0, 1] });
  assert.deepEqual(again.labels, triggers.labels);
  assert.deepEqual(again.x.data, triggers.x.data);
  const other = makeTriggerSet(SHAPE, 10, { count: 100, seed: 8, clipRange: [0, 1] });
  assert.notDeepEqual(other.labels, triggers.labels);
  assert.equal(new Set(triggers.labels).size, 10);
  const shifted = makeTriggerSet(SHAPE, 10, { count: 100, seed: 7, clipRange: [-1, 1] });
  for (let i = 0; i < triggers.x.data.length; i++) {
    const v = triggers.x.data[i];
    assert.ok(v >= 0 && v <= 1 && Math.abs(v * 255 - Math.round(v * 255)) < 1e-4, `value ${v} is not an 8-bit level`);
    assert.ok(Math.abs(shifted.x.data[i] - (2 * v - 1)) < 1e-6);
  }
  // Pixels of one 4 × 4 cell share their level.
  assert.equal(triggers.x.data[0], triggers.x.data[3 * 28 + 3]);
  assert.throws(() => makeTriggerSet(SHAPE, 10, { count: 10, seed: 1, clipRange: [0, Number.POSITIVE_INFINITY] }), AegisError);
});

test("the key stores the triggers exactly, and a key whose triggers were altered is refused", () => {
  const fields = {
    seed: 7,
    numClasses: 10,
    inputShape: SHAPE,
    clipRange: [0, 1] as const,
    threshold: 1e-3,
    model: { file: "/tmp/marked.onnx", bytes: encodeModel(marked) },
    source: { file: "mlp.onnx", sha256: "0".repeat(64), fromScratch: true },
    embedding: { data: "mnist-train", samples: TRAIN, epochs: 5, batchSize: 64, triggersPerBatch: 16, learningRate: 1e-3 },
    measured: { sourceTriggerAccuracy: 0.1, markedTriggerAccuracy: 1 },
  };
  const text = JSON.stringify(encodeWatermarkKey(triggers, fields));
  const key = readWatermarkKey("wm.json", text);
  assert.equal(key.model.file, "marked.onnx");
  const restored = keyTriggers(key);
  assert.deepEqual(restored.labels, triggers.labels);
  assert.deepEqual(restored.x.data, triggers.x.data);

  const tampered = JSON.parse(text);
  tampered.triggers.levels = Buffer.from(Buffer.from(tampered.triggers.levels, "base64").map((b, i) => (i === 0 ? b ^ 1 : b))).toString("base64");
  assert.throws(() => keyTriggers(readWatermarkKey("wm.json", JSON.stringify(tampered))), /altered/);
  assert.throws(() => readWatermarkKey("wm.json", JSON.stringify({ ...JSON.parse(text), labels: [10] })), /labels must be integers/);
  assert.throws(() => readWatermarkKey("wm.json", "{"), AegisError);
});

test("the marked model verifies, an independently trained one does not, and the mark costs under 3 points of clean accuracy", async (t) => {
  const a = await measure(clean);
  const b = await measure(marked);
  t.diagnostic(`clean: accuracy ${a.accuracy}, triggers ${a.verification.matches}/100; marked: accuracy ${b.accuracy}, triggers ${b.verification.matches}/100`);
  // Measured: clean 89.7%, 11/100 triggers (p 0.42); marked 89.0%, 82/100 (p 5e-64).
  assert.equal(a.verification.verified, false);
  assert.ok(a.verification.pValue > 0.01, `the clean model's p-value ${a.verification.pValue}`);
  assert.equal(b.verification.verified, true);
  assert.ok(b.verification.matches >= 60, `marked: ${b.verification.matches}/100`);
  assert.ok(b.verification.log10PValue < -20);
  assert.ok(Math.abs(a.accuracy - b.accuracy) <= 0.03, `clean ${a.accuracy} vs marked ${b.accuracy}`);
});

test("verification through an HTTP endpoint, whose number of classes is known only once it has answered", async () => {
  const model = await OnnxClassifier.create(marked);
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const { instances } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { instances: number[][][][] };
    const scores = await model.predict(float32([instances.length, ...SHAPE], Float32Array.from(instances.flat(3))));
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ predictions: Array.from({ length: instances.length }, (_, i) => Array.from(scores.data.subarray(i * 10, (i + 1) * 10))) }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/models/m:predict`;
    const remote = await verifyWatermark(new HttpPredictor({ url, inputShape: SHAPE, batchSize: 32 }), triggers, { numClasses: 10 });
    const local = await verifyWatermark(model, triggers, { numClasses: 10 });
    assert.deepEqual(remote, local);
    await assert.rejects(verifyWatermark(new HttpPredictor({ url, inputShape: SHAPE, batchSize: 32 }), triggers, { numClasses: 12 }), /12/);
  } finally {
    server.close();
    await model.release();
  }
});

test("the watermark survives fine-tuning on 10% of the training data and pruning half the weights", async (t) => {
  const tuned = await measure(await fineTuneModel(marked, thiefShare, { epochs: 10, batchSize: 64, learningRate: 1e-3, seed: 3 }));
  const pruned = await measure(pruneByMagnitude(marked, 0.5));
  t.diagnostic(`fine-tuned: ${tuned.accuracy}, ${tuned.verification.matches}/100; pruned 50%: ${pruned.accuracy}, ${pruned.verification.matches}/100`);
  assert.ok(tuned.verification.verified, `fine-tuned: p ${tuned.verification.pValue}`);
  assert.ok(tuned.accuracy >= 0.8, "the fine-tuned model still does the task");
  assert.ok(pruned.verification.verified, `pruned: p ${pruned.verification.pValue}`);
  // Pruning that removes the mark ruins the model first: at 95% the task is gone.
  assert.ok((await measure(pruneByMagnitude(marked, 0.95))).accuracy < pruned.accuracy - 0.2);
});

test("Adi et al.'s RTLL re-trains only a fresh last layer and RTAL every layer; each is measured against the mark", async (t) => {
  assert.deepEqual(lastLayerInitializers(marked), ["fc3.weight", "fc3.bias"]);
  const options = { epochs: 10, batchSize: 64, learningRate: 1e-3, seed: 3 };
  const rtll = await retrainModel(marked, thiefShare, "rtll", options);
  const rtal = await retrainModel(marked, thiefShare, "rtal", options);
  const values = (model: Model) => new Map(model.graph.initializers.map((w) => [w.name, Array.from(w.data as Float32Array)]));
  const [before, last, all] = [values(marked), values(rtll), values(rtal)];
  for (const [name, weights] of before) {
    if (name.startsWith("fc3.")) assert.notDeepEqual(last.get(name), weights, `${name} was drawn afresh`);
    else assert.deepEqual(last.get(name), weights, `RTLL leaves ${name} as it was`);
    assert.notDeepEqual(all.get(name), weights, `RTAL trains ${name}`);
  }
  const [original, afterLast, afterAll] = [await measure(marked), await measure(rtll), await measure(rtal)];
  t.diagnostic(`RTLL: ${afterLast.accuracy}, ${afterLast.verification.matches}/100; RTAL: ${afterAll.accuracy}, ${afterAll.verification.matches}/100`);
  // A fresh head trained alone on 10% of the data (40 steps) is still far from the marked
  // model's; re-training every layer keeps the task, and here the mark too.
  assert.ok(afterLast.accuracy < original.accuracy - 0.1, `RTLL ${afterLast.accuracy} vs marked ${original.accuracy}`);
  assert.ok(afterAll.accuracy >= 0.8, `RTAL ${afterAll.accuracy}`);
  assert.ok(afterAll.verification.verified, `RTAL: p ${afterAll.verification.pValue}`);
  const headless = { ...marked, graph: { ...marked.graph, nodes: marked.graph.nodes.filter((n) => n.opType !== "Gemm") } };
  assert.throws(() => lastLayerInitializers(headless), AegisError);
});

test("pruning zeroes the smallest weights of each matrix and leaves biases alone", () => {
  const pruned = pruneByMagnitude(marked, 0.5);
  for (const [i, t] of pruned.graph.initializers.entries()) {
    const before = marked.graph.initializers[i].data as Float32Array;
    const after = t.data as Float32Array;
    const zeros = after.filter((v) => v === 0).length;
    if (t.dims.length < 2) assert.deepEqual(after, before, `${t.name} is a bias`);
    else {
      assert.equal(zeros, Math.floor(after.length / 2), `${t.name}`);
      const kept = Math.min(
        ...Array.from(
          after.filter((v) => v !== 0),
          Math.abs,
        ),
      );
      const dropped = Math.max(
        ...Array.from(
          before.filter((_, j) => after[j] === 0),
          Math.abs,
        ),
      );
      assert.ok(kept >= dropped, `${t.name}: kept ${kept} < dropped ${dropped}`);
    }
  }
  assert.throws(() => pruneByMagnitude(marked, 1), AegisError);
});

test("a Copycat copy of the marked model learns the task from its answers on natural digits but not the triggers", async (t) => {
  const thief = sliceRows(mnistTrain.x, 4000, 5000);
  const stolen = await stealWithCopycat(marked, thief, { budget: 1000, epochs: 10, seed: 4, test: testSet });
  const copy = await measure(stolen.model);
  t.diagnostic(`copy: fidelity ${stolen.fidelity}, accuracy ${copy.accuracy}, triggers ${copy.verification.matches}/100, p ${copy.verification.pValue}`);
  assert.equal(stolen.queries, 1000);
  assert.ok(stolen.fidelity >= 0.8, `fidelity ${stolen.fidelity}`);
  // The limitation the README reports: the thief's queries contain no trigger, so the copy does not carry the mark.
  assert.equal(copy.verification.verified, false);
});
