/**
 * Shadow models trained in worker threads: two workers train a plan of three tiny models
 * into a checkpoint folder, each a working classifier; Ctrl-C (an aborted signal) stops the
 * run with INTERRUPTED and a message that says how to continue, and the next run reuses
 * what the interrupted one finished.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type ShadowConfig, trainShadowModels } from "../../../src/attacks/inference/shadow-models.js";
import { loadMnist } from "../../../src/data/index.js";
import { OnnxClassifier } from "../../../src/engine/classifier.js";
import { countCorrect } from "../../../src/engine/trainer.js";
import { isAegisError } from "../../../src/errors.js";
import { decodeModel } from "../../../src/onnx/proto.js";
import { labelsOf, sliceRows } from "../../../src/tensor.js";

const { train } = loadMnist();
const pool = { x: sliceRows(train.x, 0, 300), labels: labelsOf(train.y).slice(0, 300) };
const config: ShadowConfig = {
  architecture: { arch: "mlp" },
  numClasses: 10,
  training: { epochs: 10, batchSize: 32, optimizer: "adam", lr: 1e-3, momentum: 0.9, weightDecay: 0, augment: "none" },
};
const plan = { models: [0, 1, 2].map((j) => ({ seed: j + 1, rows: Array.from({ length: 100 }, (_, i) => j * 100 + i) })), candidates: 0, online: false };
const dir = mkdtempSync(join(tmpdir(), "aegis-shadow-workers-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("two worker threads train every model of the plan into the checkpoint folder", async () => {
  const epochs: number[] = [];
  const models = await trainShadowModels(config, plan, pool, {
    workers: 2,
    checkpointDir: join(dir, "full"),
    progress: () => ({ update: (done) => epochs.push(done), stop() {} }),
  });
  assert.equal(models.length, 3);
  assert.equal(epochs.at(-1), 30, "3 models × 10 epochs reported");
  for (const i of [0, 1, 2]) assert.ok(existsSync(join(dir, "full", `shadow-00${i}.onnx`)));
  // Each learned its own 100 digits.
  for (const [j, bytes] of models.entries()) {
    const model = await OnnxClassifier.create(decodeModel(bytes));
    const rows = plan.models[j].rows;
    const accuracy = countCorrect(await model.predict(sliceRows(pool.x, rows[0], rows[0] + 100)), pool.labels.slice(rows[0], rows[0] + 100)) / 100;
    await model.release();
    assert.ok(accuracy > 0.6, `shadow model ${j}: ${accuracy} on its own training digits`);
  }
});

test("an interrupted run says how to continue, and the next run reuses what it finished", async () => {
  const controller = new AbortController();
  const checkpointDir = join(dir, "interrupted");
  let finishedEpochs = 0;
  await assert.rejects(
    trainShadowModels(config, plan, pool, {
      checkpointDir,
      signal: controller.signal,
      // Stop during the second model.
      progress: () => ({ update: () => ++finishedEpochs === config.training.epochs + 1 && controller.abort(), stop() {} }),
    }),
    (e) => isAegisError(e) && e.code === "INTERRUPTED" && /1 of 3 shadow models are finished .* run the same command again/.test(e.message),
  );
  const logged: string[] = [];
  const models = await trainShadowModels(config, plan, pool, { checkpointDir, log: (m) => logged.push(m) });
  assert.equal(models.length, 3);
  assert.ok(
    logged.some((m) => m.includes("reusing 1 of 3")),
    logged.join("\n"),
  );
});
