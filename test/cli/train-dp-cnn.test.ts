/**
 * `--arch dp-cnn`, the DP-SGD CNN of Papernot et al. 2020 (the model of TF Privacy's and
 * Opacus's MNIST examples): its layers are the paper's, and `aegis train --arch dp-cnn --dp
 * --target-epsilon 3` trains it through the real binary on 2,000 digits to well above chance
 * (measured 66.1% on 1,000 held-out digits, chance 10%), spending the ε the accountant gives
 * for the (σ, q, steps) it printed and recorded.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeNpz, loadMnist } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/index.js";
import { parameterCount } from "../../src/onnx/ir.js";
import { epsilonSpent } from "../../src/privacy/index.js";
import { sliceRows } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-dp-cnn-"));

test("dp-cnn has the paper's layers: conv 16 8×8/2, conv 32 4×4/2, dense 32, dense 10, tanh, no BatchNorm", () => {
  const model = buildArchitecture("dp-cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  const shapes = Object.fromEntries(model.graph.initializers.map((t) => [t.name, t.dims]));
  assert.deepEqual(shapes["conv1.weight"], [16, 1, 8, 8]);
  assert.deepEqual(shapes["conv2.weight"], [32, 16, 4, 4]);
  assert.deepEqual(shapes["fc1.weight"], [32, 512]);
  assert.deepEqual(shapes["fc2.weight"], [10, 32]);
  assert.equal(parameterCount(model.graph), 26010);
  const ops = model.graph.nodes.map((n) => n.opType);
  assert.equal(ops.filter((op) => op === "Tanh").length, 3);
  assert.ok(!ops.includes("BatchNormalization") && !ops.includes("Relu"));
  assert.throws(
    () => buildArchitecture("dp-cnn", { inputShape: [1, 13, 13], numClasses: 10 }),
    (e: Error & { code?: string }) => e.code === "BAD_OPTION" && /at least 14×14/.test(e.message),
  );
});

test("train --arch dp-cnn --dp --target-epsilon 3 beats chance clearly and spends the accountant's ε for what it printed", async () => {
  const { train, test: held } = loadMnist();
  const data = join(tmp, "train.npz");
  const testData = join(tmp, "test.npz");
  writeFileSync(data, encodeNpz({ x: sliceRows(train.x, 0, 2000), y: sliceRows(train.y, 0, 2000) }));
  writeFileSync(testData, encodeNpz({ x: sliceRows(held.x, 0, 1000), y: sliceRows(held.y, 0, 1000) }));
  const run = await aegis([
    "train",
    ...["--arch", "dp-cnn", "--dataset", data, "--test-data", testData, "--epochs", "3", "--batch-size", "64"],
    ...["--optimizer", "sgd", "--momentum", "0.9", "--lr", "2"],
    ...["--dp", "--target-epsilon", "3", "--max-grad-norm", "0.1", "--noise-seed", "1"],
    ...["--out", join(tmp, "dp-cnn.onnx"), "--json"],
  ]);
  assert.equal(run.code, 0, run.stderr);
  const { differentialPrivacy: record, history } = JSON.parse(run.stdout);
  assert.equal(record.samplingRate, 64 / 2000);
  assert.equal(record.steps, 3 * Math.round(2000 / 64));
  const accountant = epsilonSpent([{ noiseMultiplier: record.noiseMultiplier, samplingRate: record.samplingRate, steps: record.steps }], 1e-5).epsilon;
  assert.ok(Math.abs(record.epsilon - accountant) < 1e-9, `recorded ε ${record.epsilon}, accountant ${accountant}`);
  assert.ok(record.epsilon <= 3 && record.epsilon > 2.97, `ε ${record.epsilon} for a target of 3`);
  assert.match(
    run.stderr,
    new RegExp(`σ ${Number(record.noiseMultiplier.toPrecision(4))} \\(solved for ε = 3\\) · C 0\\.1 .* spends ε = ${accountant.toFixed(3)}`),
  );
  assert.match(run.stderr, new RegExp(`epoch 3/3: .*ε ${accountant.toFixed(3)} spent \\(δ 0\\.00001\\)`));
  const accuracy = history.at(-1).validationAccuracy;
  assert.ok(accuracy >= 0.5, `held-out accuracy ${accuracy} (chance 0.1)`);
});
