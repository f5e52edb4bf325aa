/**
 * The extraction attacks against the bundled MNIST CNN through its black-box predict
 * interface, at small scale (an MLP copy, a few hundred queries of digits the victim never
 * saw in training — the built-in split's train rows, the victim was trained elsewhere),
 * and functionally equivalent extraction of a random 2-layer ReLU MLP. Full-scale numbers
 * (1,000 and 5,000 queries, the CNN copy) are in `npm run bench`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { shiftShare, soften } from "../../src/attacks/extraction/stolen-model.js";
import { copycat, dfme, functionallyEquivalent, jacobian, knockoff, QueryOracle, runExtraction, thiefClusters, trainStolen } from "../../src/attacks/index.js";
import { createRng, loadMnist } from "../../src/data/index.js";
import { defend, labelsOnly, topK } from "../../src/defenses/index.js";
import { HttpPredictor, OnnxClassifier, type Predictor, softmaxRows } from "../../src/engine/index.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/onnx/builder.js";
import { attr, DataType, emptyModel } from "../../src/onnx/ir.js";
import { float32, labelsOf, sliceRows } from "../../src/tensor.js";
import { serveModel } from "../helpers/model-endpoint.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { train, test: mnistTest } = loadMnist();
const victim = await OnnxClassifier.fromFile(demo);
const thief = sliceRows(train.x, 0, 2000);
const thiefLabels = labelsOf(train.y).slice(0, 2000);
const testSet = { x: sliceRows(mnistTest.x, 0, 500), labels: labelsOf(mnistTest.y).slice(0, 500) };
const mlp = { architecture: "mlp" as const, seed: 0 };

function labelsOnlyVictim(): Predictor {
  return defend(victim, { postprocessors: [labelsOnly()] });
}

test("Copycat: 500 probability answers give an MLP copy that agrees with the victim on ≥ 80% of test digits", async (t) => {
  const run = await runExtraction(
    copycat,
    victim,
    { thief, stolen: mlp },
    { ...copycat.defaults, epochs: 10 },
    { budget: 500, test: testSet, checkpoints: [250], transfer: { eps: 0.3, samples: 100 } },
  );
  const r = run.report;
  t.diagnostic(`accuracy ${r.accuracy} fidelity ${r.fidelity} transfer ${r.transfer?.rate} curve ${JSON.stringify(r.curve)}`);
  // Measured: fidelity 82.8%, accuracy 82.6%, FGSM transfer 45% (83.4%, 84.0%, 47% at temperature 1).
  assert.equal(r.queries, 500);
  assert.equal(run.oracle.spent, 500, "the oracle counted every query");
  assert.equal(r.output, "probabilities");
  assert.ok(r.fidelity >= 0.8, `fidelity ${r.fidelity}`);
  assert.ok((r.accuracy ?? 0) >= 0.8, `accuracy ${r.accuracy}`);
  assert.deepEqual(
    r.curve.map((p) => p.queries),
    [250, 500],
  );
  // An undefended victim falls for FGSM examples crafted on the copy far more than for noise of the same size.
  assert.ok((r.transfer?.rate ?? 0) >= 0.25, `transfer ${r.transfer?.rate}`);
  await run.result.stolen.release();
});

test("Copycat from label-only answers: the oracle sees labels, and the copy still agrees ≥ 75%", async (t) => {
  const run = await runExtraction(
    copycat,
    labelsOnlyVictim(),
    { thief, stolen: mlp },
    { ...copycat.defaults, epochs: 10 },
    { budget: 500, test: testSet, transfer: false },
  );
  t.diagnostic(`fidelity ${run.report.fidelity}`);
  assert.equal(run.report.output, "labels");
  assert.ok(run.report.fidelity >= 0.75, `fidelity ${run.report.fidelity}`);
  await run.result.stolen.release();
});

test("distillation at temperature T softens the answers to softmax(log p / T) and keeps their order", () => {
  const answers = float32([2, 3], [0.7, 0.2, 0.1, 0.01, 0.01, 0.98]);
  assert.deepEqual(soften(answers, 1).data, answers.data);
  const soft = soften(answers, 2).data;
  const expected = [0.7, 0.2, 0.1].map(Math.sqrt);
  const sum = expected.reduce((a, v) => a + v, 0);
  for (const [j, v] of expected.entries()) assert.ok(Math.abs(soft[j] - v / sum) < 1e-6, `${soft[j]} vs ${v / sum}`);
  assert.ok(Math.abs(soft[3] + soft[4] + soft[5] - 1) < 1e-6);
  assert.ok(soft[5] < 0.98 && soft[5] > soft[3], "softer, same top class");
});

test("one-hot answers train at temperature 1 whatever the temperature asked, probabilities do not", async () => {
  const x = sliceRows(thief, 0, 64);
  const oneHot = float32(
    [64, 10],
    new Float32Array(640).map((_, j) => (j % 10 === thiefLabels[Math.floor(j / 10)] ? 1 : 0)),
  );
  const probabilities = softmaxRows(await victim.predict(x));
  const weights = async (answers: typeof oneHot, temperature: number) => {
    const schedule = { epochs: 1, batchSize: 32, learningRate: 1e-3, temperature };
    const model = await trainStolen(victim, mlp, schedule, { x, answers });
    const out = model.exportModel().graph.initializers.map((w) => Array.from(w.data as Float32Array));
    await model.release();
    return out;
  };
  assert.deepEqual(await weights(oneHot, 2), await weights(oneHot, 1));
  assert.notDeepEqual(await weights(probabilities, 2), await weights(probabilities, 1));
});

test("shift moves the asked share of a batch's images by exactly one pixel and leaves the rest and the targets alone", async () => {
  const x = sliceRows(thief, 0, 200);
  const batch = { x, targets: float32([200, 10], new Float32Array(2000)), labels: [] };
  const context = { classifier: victim as never, epoch: 1, step: 0, rng: createRng(5) };
  const none = await shiftShare(0, [1, 28, 28])(batch, context);
  assert.deepEqual(none.x.data, x.data);
  const half = await shiftShare(0.5, [1, 28, 28])(batch, context);
  assert.equal(half.targets, batch.targets);
  let moved = 0;
  for (let i = 0; i < 200; i++) {
    const before = x.data.subarray(i * 784, (i + 1) * 784);
    const after = half.x.data.subarray(i * 784, (i + 1) * 784);
    if (after.every((v, j) => v === before[j])) continue;
    moved++;
    // Some one-pixel move in the eight directions reproduces it (MNIST's borders are blank).
    const matches = [-1, 0, 1].some((dy) =>
      [-1, 0, 1].some((dx) =>
        after.every((v, j) => {
          const [y, c] = [Math.floor(j / 28) - dy, (j % 28) - dx];
          return v === (y >= 0 && y < 28 && c >= 0 && c < 28 ? before[y * 28 + c] : 0);
        }),
      ),
    );
    assert.ok(matches, `image ${i} is a one-pixel shift`);
  }
  assert.ok(moved > 70 && moved < 130, `${moved} of 200 moved`);
});

test("Knockoff adaptive: the bandit spends exactly the budget on distinct thief rows and learns a copy, even from one-hot answers", async (t) => {
  for (const [name, target, floor] of [
    ["probabilities", victim, 0.75],
    ["labels", labelsOnlyVictim(), 0.7],
  ] as const) {
    const run = await runExtraction(
      knockoff,
      target,
      { thief, thiefLabels, stolen: mlp },
      { ...knockoff.defaults, sampling: "adaptive", epochs: 10 },
      { budget: 400, test: testSet, transfer: false, record: true },
    );
    t.diagnostic(`${name}: fidelity ${run.report.fidelity} notes ${run.report.notes.join("; ")}`);
    assert.equal(run.report.queries, 400);
    const sent = run.oracle.records().x;
    const rowsSent = new Set(Array.from({ length: 400 }, (_, i) => sent.data.subarray(i * 784, (i + 1) * 784).join(",")));
    assert.equal(rowsSent.size, 400, "no thief row is queried twice");
    // The policy stays a distribution: ART's zero-variance reward would make it NaN on one-hot answers.
    assert.match(run.report.notes[0], /π 0\.\d\d|π 1\.00/);
    assert.ok(run.report.fidelity >= floor, `${name}: fidelity ${run.report.fidelity}`);
    await run.result.stolen.release();
  }
});

test("Knockoff random: draws without replacement and stops at the thief data's size with a note", async () => {
  const small = sliceRows(thief, 0, 120);
  const run = await runExtraction(
    knockoff,
    victim,
    { thief: small, stolen: mlp },
    { ...knockoff.defaults, epochs: 2 },
    { budget: 500, test: testSet, transfer: false },
  );
  assert.equal(run.report.queries, 120);
  assert.match(run.report.notes.join(" "), /held 120 samples, fewer than the budget of 500/);
  await run.result.stolen.release();
});

test("Jacobian augmentation grows 50 seeds to the budget and beats a copy trained on the seeds alone", async (t) => {
  const params = { ...jacobian.defaults, seeds: 50, kappa: 100, epochs: 8 };
  const run = await runExtraction(jacobian, victim, { thief, stolen: mlp }, params, { budget: 400, test: testSet, transfer: false });
  const seedsOnly = await runExtraction(
    copycat,
    victim,
    { thief, stolen: mlp },
    { ...copycat.defaults, epochs: 8 },
    { budget: 50, test: testSet, transfer: false },
  );
  t.diagnostic(`jacobian ${run.report.fidelity} (${run.report.notes}) seeds only ${seedsOnly.report.fidelity}`);
  assert.equal(run.report.queries, 400);
  assert.ok(run.report.fidelity > seedsOnly.report.fidelity + 0.05, `${run.report.fidelity} vs ${seedsOnly.report.fidelity}`);
  await run.result.stolen.release();
  await seedsOnly.result.stolen.release();
});

test("DFME spends whole iterations of B·(m+1)·n_G + B·n_S queries and refuses a budget below one", async () => {
  const params = { ...dfme.defaults, batchSize: 16, latentSize: 32 };
  const perIteration = 16 * (1 * 2 + 5);
  const run = await runExtraction(dfme, victim, { stolen: mlp }, params, { budget: 3 * perIteration + 50, test: testSet, transfer: false });
  assert.equal(run.report.queries, 3 * perIteration);
  assert.match(run.report.notes[0], /^3 iterations of 112 queries; 50 queries left/);
  assert.ok(run.report.fidelity >= 0 && run.report.fidelity <= 1);
  await run.result.stolen.release();
  await assert.rejects(
    runExtraction(dfme, victim, { stolen: mlp }, params, { budget: perIteration - 1, test: testSet, transfer: false }),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && /one dfme iteration spends 112/.test(e.message),
  );
});

test("Copycat through --target's HttpPredictor: every counted query is a sample the endpoint received, and the copy matches the in-process one", async (t) => {
  const server = await serveModel(victim);
  try {
    const endpoint = new HttpPredictor({
      url: server.url,
      inputShape: [1, 28, 28],
      numClasses: 10,
      batchSize: 128,
    });
    const params = { ...copycat.defaults, epochs: 5 };
    const options = { budget: 300, test: { x: sliceRows(testSet.x, 0, 200), labels: testSet.labels.slice(0, 200) }, transfer: false as const };
    const remote = await runExtraction(copycat, endpoint, { thief, stolen: mlp }, params, options);
    const local = await runExtraction(copycat, victim, { thief, stolen: mlp }, params, options);
    t.diagnostic(`remote ${remote.report.fidelity} local ${local.report.fidelity}`);
    assert.equal(remote.report.queries, 300);
    assert.equal(server.received, remote.report.queries + remote.report.evaluationQueries);
    assert.ok(Math.abs(remote.report.fidelity - local.report.fidelity) <= 0.02, `${remote.report.fidelity} vs ${local.report.fidelity}`);
    await remote.result.stolen.release();
    await local.result.stolen.release();
  } finally {
    await server.close();
  }
});

/** f(x) = W₂·ReLU(W₁x + b₁) for x in [0,1]^d, each hidden hyperplane through a random point of the box. */
async function randomReluMlp(d: number, hidden: number, classes: number, seed: number): Promise<OnnxClassifier> {
  const rng = createRng(seed);
  const model = emptyModel(17, "victim");
  const b = new GraphBuilder(model.graph, 17, "v");
  const w1 = Array.from({ length: hidden }, () => Array.from({ length: d }, () => rng.normal() / Math.sqrt(d)));
  const b1 = w1.map((w) => -w.reduce((s, a) => s + a * rng.next(), 0));
  const w2 = Array.from({ length: classes * hidden }, () => (rng.normal() * 2) / Math.sqrt(hidden));
  b.addInput("x", DataType.FLOAT, ["n", d]);
  const gemm = (x: string, w: Float32Array, bias: Float32Array, rows: number, cols: number) =>
    b.op("Gemm", [x, b.initializer(DataType.FLOAT, [rows, cols], w), b.initializer(DataType.FLOAT, [rows], bias)], { transB: attr.int(1) });
  const h = b.op("Relu", [gemm("x", Float32Array.from(w1.flat()), Float32Array.from(b1), hidden, d)]);
  b.node("Identity", [gemm(h, Float32Array.from(w2), new Float32Array(classes), classes, hidden)], {}, ["y"]);
  b.addOutput("y", DataType.FLOAT, ["n", classes]);
  return OnnxClassifier.create(model, { clipRange: [0, 1] });
}

test("functionally equivalent extraction recovers a 10-20-4 ReLU MLP to ≥ 99.9% fidelity on random inputs", async (t) => {
  const target = await randomReluMlp(10, 20, 4, 1);
  const rng = createRng(99);
  const random = float32(
    [10000, 10],
    Float32Array.from({ length: 100000 }, () => rng.next()),
  );
  const run = await runExtraction(functionallyEquivalent, target, { stolen: mlp }, functionallyEquivalent.defaults, {
    budget: 200000,
    test: { x: random },
    transfer: false,
  });
  t.diagnostic(`fidelity ${run.report.fidelity} queries ${run.report.queries} ${run.report.notes.join("; ")}`);
  // Measured: 99.99% with 19 of 20 units in 32,468 queries (the 20th crosses only a corner of the box).
  assert.ok(run.report.fidelity >= 0.999, `fidelity ${run.report.fidelity}`);
  assert.ok(run.report.queries < 60000, `queries ${run.report.queries}`);
  // The recovered logits match the victim's up to a shift, not only their argmax.
  const probe = sliceRows(random, 0, 200);
  const [mine, theirs] = [await run.result.stolen.predict(probe), await target.predict(probe)];
  let worst = 0;
  for (let i = 0; i < 200; i++) {
    const shift = mine.data[i * 4] - theirs.data[i * 4];
    for (let j = 1; j < 4; j++) worst = Math.max(worst, Math.abs(mine.data[i * 4 + j] - theirs.data[i * 4 + j] - shift));
  }
  t.diagnostic(`largest logit error up to a shift ${worst}`);
  assert.ok(worst < 0.05, `logit error ${worst}`);
  await run.result.stolen.release();

  await assert.rejects(
    runExtraction(functionallyEquivalent, defend(target, { postprocessors: [topK({ k: 2 })] }), { stolen: mlp }, functionallyEquivalent.defaults, {
      budget: 1000,
      test: { x: probe },
      transfer: false,
    }),
    (e: unknown) => e instanceof AegisError && /needs every class's score, but the victim answers with top-k/.test(e.message),
  );
  await target.release();
});

test("the query oracle counts, logs and caps queries, and tells the API's output mode", async () => {
  const oracle = new QueryOracle(victim, { budget: 30, record: true });
  const answers = await oracle.query(sliceRows(thief, 0, 20));
  for (let i = 0; i < 20; i++) {
    const row = answers.data.subarray(i * 10, (i + 1) * 10);
    assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-5);
  }
  assert.equal(oracle.spent, 20);
  assert.equal(oracle.observed, "probabilities");
  assert.deepEqual(
    oracle.log.map((e) => [e.queries, e.total]),
    [[20, 20]],
  );
  await assert.rejects(oracle.query(sliceRows(thief, 0, 11)), /asked for 11 queries with 10 of its budget left/);
  assert.equal(oracle.records().x.shape[0], 20);

  const labels = new QueryOracle(labelsOnlyVictim(), { budget: 10 });
  const oneHot = await labels.query(sliceRows(thief, 0, 5));
  assert.equal(labels.observed, "labels");
  for (let i = 0; i < 5; i++) assert.equal(oneHot.data[i * 10 + argmaxRow(oneHot, i)], 1);
  const top = new QueryOracle(defend(victim, { postprocessors: [topK({ k: 3 })] }), { budget: 10 });
  await top.query(sliceRows(thief, 0, 5));
  assert.equal(top.observed, "top-k");

  assert.throws(
    () => new QueryOracle(victim, { budget: 0 }),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION",
  );
  const broken: Predictor = {
    inputShape: victim.inputShape,
    numClasses: 10,
    clipRange: [0, 1],
    outputKind: "probs",
    predict: async (x) => float32([x.shape[0], 10], new Float32Array(x.shape[0] * 10)),
  };
  await assert.rejects(
    new QueryOracle(broken, { budget: 5 }).query(sliceRows(thief, 0, 1)),
    (e: unknown) => e instanceof AegisError && e.code === "TARGET_ERROR",
  );
});

test("k-means finds two well-separated clusters of points", () => {
  const rng = createRng(3);
  const x = float32(
    [40, 2],
    Float32Array.from({ length: 80 }, (_, i) => (i < 40 ? 0 : 10) + rng.normal() * 0.1),
  );
  const clusters = thiefClusters(x, 2, createRng(0));
  assert.equal(new Set(clusters.slice(0, 20)).size, 1);
  assert.equal(new Set(clusters.slice(20)).size, 1);
  assert.notEqual(clusters[0], clusters[39]);
});
