/**
 * The black-box attacks against a real HTTP endpoint: a local node:http server (127.0.0.1,
 * a free port) serves the bundled MNIST CNN KServe-style ({"instances"} → {"predictions"}
 * with softmax probabilities), HttpPredictor queries it, and the results must match the
 * same attack run in-process with the same seed, with every query the attack reports
 * being one sample the endpoint received.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { hopskipjump } from "../../src/attacks/evasion/hopskipjump.js";
import { square } from "../../src/attacks/evasion/square.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { HttpPredictor } from "../../src/engine/http.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";
import { type ModelEndpoint, serveModel } from "../helpers/model-endpoint.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const clf = await OnnxClassifier.fromFile(demo);
const x = sliceRows(mnist.x, 0, 50);
const y = labelsOf(mnist.y).slice(0, 50);

let server: ModelEndpoint;

before(async () => {
  server = await serveModel(clf);
});
after(async () => {
  await server.close();
  await clf.release();
});

const endpoint = () => new HttpPredictor({ url: server.url, inputShape: [1, 28, 28], numClasses: 10, batchSize: 64 });
const sum = (q: Int32Array | undefined) => (q ? q.reduce((a, b) => a + b, 0) : Number.NaN);

test("Square L∞ at ε=0.3 through HTTP matches the in-process run, and its query counts are the endpoint's", async (t) => {
  const params = { ...square.defaults, eps: 0.3, maxQueries: 1000 };
  const local = await square.run(clf, x, y, params, { rng: createRng(7) });
  const http = endpoint();
  server.received = 0;
  const start = Date.now();
  const remote = await square.run(http, x, y, params, { rng: createRng(7) });
  const seconds = (Date.now() - start) / 1000;
  const a = await attackMetrics(clf, x, local.x, y, { queries: local.queries });
  const b = await attackMetrics(clf, x, remote.x, y, { queries: remote.queries });
  t.diagnostic(
    `in-process robust ${a.robust_accuracy} queries mean ${a.queries?.mean}; HTTP robust ${b.robust_accuracy} queries mean ${b.queries?.mean} (${http.queries} samples in ${http.requests} requests, ${seconds}s)`,
  );
  assert.ok(Math.abs(a.robust_accuracy - b.robust_accuracy) <= 1 / 50 + 1e-9, "robust accuracies agree within one sample");
  assert.ok(b.robust_accuracy <= 0.1, `robust accuracy through HTTP ${b.robust_accuracy}`);
  assert.equal(sum(remote.queries), http.queries, "the attack's per-sample counts add up to the predictor's counter");
  assert.equal(http.queries, server.received, "and to the samples the server received");
});

test("HopSkipJump through HTTP (decisions only) matches the in-process run and the endpoint's counter", async (t) => {
  const xs = sliceRows(x, 0, 8);
  const ys = y.slice(0, 8);
  const params = { ...hopskipjump.defaults, maxQueries: 300 };
  const local = await hopskipjump.run(clf, xs, ys, params, { rng: createRng(8) });
  const http = endpoint();
  server.received = 0;
  const remote = await hopskipjump.run(http, xs, ys, params, { rng: createRng(8) });
  const a = await attackMetrics(clf, xs, local.x, ys, { queries: local.queries });
  const b = await attackMetrics(clf, xs, remote.x, ys, { queries: remote.queries });
  t.diagnostic(
    `in-process robust ${a.robust_accuracy} L2 ${a.perturbation.l2_mean.toFixed(3)}; HTTP robust ${b.robust_accuracy} L2 ${b.perturbation.l2_mean.toFixed(3)} (${http.queries} samples in ${http.requests} requests)`,
  );
  assert.ok(Math.abs(a.robust_accuracy - b.robust_accuracy) <= 1 / 8 + 1e-9, "robust accuracies agree within one sample");
  assert.equal(b.success_rate, 1);
  assert.equal(sum(remote.queries), http.queries);
  assert.equal(http.queries, server.received);
  assert.ok(Math.max(...(remote.queries as Int32Array)) <= 300, "budget respected");
});
