/**
 * Membership inference end to end at small scale, on MNIST models the engine trains here:
 * an overfit MLP (200 members, 40 epochs: train 100 %, test about 78 %) leaks, and LiRA
 * with four offline shadow models ranks members better than the loss threshold and finds
 * at least twice as many at 1 % FPR; a model trained with weight decay on 4,000 samples for three epochs does not
 * leak, and the attacks must say so (AUC near 0.5) rather than cry wolf. The shadow models
 * are checkpointed: a second run reuses them and gives the same scores.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type MembershipResult, runMembershipInference } from "../../../src/attacks/inference/membership.js";
import type { LabelledData } from "../../../src/attacks/inference/observations.js";
import { type ShadowConfig, trainShadowModels } from "../../../src/attacks/inference/shadow-models.js";
import { loadMnist } from "../../../src/data/index.js";
import { buildArchitecture } from "../../../src/engine/architectures.js";
import { OnnxClassifier } from "../../../src/engine/classifier.js";
import { adam } from "../../../src/engine/optimizers.js";
import { train } from "../../../src/engine/trainer.js";
import { isAegisError } from "../../../src/errors.js";
import { gatherRows, labelsOf } from "../../../src/tensor.js";

const mnist = loadMnist();
const trainLabels = labelsOf(mnist.train.y);
const testLabels = labelsOf(mnist.test.y);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const rows = (split: "train" | "test", r: number[]): LabelledData => ({
  x: gatherRows(mnist[split].x, r),
  labels: r.map((i) => (split === "train" ? trainLabels : testLabels)[i]),
});
const members = rows("train", range(0, 200));
const nonMembers = rows("test", range(0, 400));
const reference = rows("train", range(4000, 6000));
const dir = mkdtempSync(join(tmpdir(), "aegis-mia-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function trainTarget(data: LabelledData, epochs: number, weightDecay: number): Promise<OnnxClassifier> {
  const model = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 5 }), { trainable: true });
  await train(model, data, { epochs, batchSize: 64, optimizer: adam({ lr: 1e-3, weightDecay }), seed: 5 });
  return model;
}

const shadowConfig: ShadowConfig = {
  architecture: { arch: "mlp" },
  numClasses: 10,
  training: { epochs: 40, batchSize: 64, optimizer: "adam", lr: 1e-3, momentum: 0.9, weightDecay: 0, augment: "none" },
};

const attack = (target: OnnxClassifier, withShadows: boolean, log?: (m: string) => void): Promise<MembershipResult> =>
  runMembershipInference({
    target,
    members,
    nonMembers,
    reference,
    attacks: withShadows ? ["loss", "lira-offline"] : ["loss", "confidence"],
    shadow: withShadows ? { config: shadowConfig, count: 4, trainSize: 200, checkpointDir: dir } : undefined,
    population: 500,
    seed: 1,
    log,
  });

const byName = (r: MembershipResult, name: string) => {
  const found = r.attacks.find((a) => a.attack === name);
  assert.ok(found, `${name} ran`);
  return found;
};
const tprAt1 = (r: MembershipResult, name: string) => byName(r, name).tpr_at_low_fpr[1].tpr;

test("an overfit MLP leaks: loss AUC well above chance, and offline LiRA ranks members better and finds twice as many at 1 % FPR", async (t) => {
  const target = await trainTarget(members, 40, 0);
  try {
    const result = await attack(target, true);
    for (const a of result.attacks) t.diagnostic(`${a.attack}: AUC ${a.auc.toFixed(3)}, TPR@1% ${a.tpr_at_low_fpr[1].tpr.toFixed(3)}`);
    assert.equal(result.target.member_accuracy, 1);
    assert.ok(result.target.non_member_accuracy < 0.9);
    assert.ok(byName(result, "loss").auc > 0.65, `loss AUC ${byName(result, "loss").auc}`);
    assert.ok(byName(result, "lira-offline").auc > byName(result, "loss").auc, `LiRA AUC ${byName(result, "lira-offline").auc}`);
    assert.ok(tprAt1(result, "lira-offline") >= 0.05, `LiRA TPR@1% ${tprAt1(result, "lira-offline")}`);
    assert.ok(tprAt1(result, "lira-offline") >= 2 * tprAt1(result, "loss"), `LiRA TPR@1% ${tprAt1(result, "lira-offline")} vs loss ${tprAt1(result, "loss")}`);
    // The loss threshold, calibrated on the shadow models, lands near the best balanced accuracy.
    const loss = byName(result, "loss");
    assert.ok(loss.threshold && loss.threshold.balancedAccuracy > 0.6, `calibrated threshold: ${JSON.stringify(loss.threshold)}`);

    // A second run reuses the four checkpointed shadow models and gives the same scores.
    const logged: string[] = [];
    const again = await attack(target, true, (m) => logged.push(m));
    assert.ok(
      logged.some((m) => m.includes("reusing 4 of 4")),
      logged.join("\n"),
    );
    assert.equal(byName(again, "lira-offline").auc, byName(result, "lira-offline").auc);
  } finally {
    await target.release();
  }
});

test("a checkpoint folder of another setup is refused, not silently mixed in", async () => {
  const other = { ...shadowConfig, training: { ...shadowConfig.training, epochs: 1 } };
  const plan = { models: [{ seed: 1, rows: range(0, 50) }], candidates: 0, online: false };
  await assert.rejects(
    trainShadowModels(other, plan, reference, { checkpointDir: join(dir, "offline") }),
    (e) => isAegisError(e) && e.code === "BAD_OPTION" && /another setup/.test(e.message),
  );
});

test("a model trained with weight decay on 4,000 samples does not leak, and the attacks say so", async (t) => {
  const target = await trainTarget(rows("train", range(0, 4000)), 3, 1e-4);
  try {
    const result = await attack(target, false);
    for (const a of result.attacks) t.diagnostic(`${a.attack}: AUC ${a.auc.toFixed(3)}, TPR@1% ${a.tpr_at_low_fpr[1].tpr.toFixed(3)}`);
    for (const a of result.attacks) {
      assert.ok(Math.abs(a.auc - 0.5) < 0.06, `${a.attack}: AUC ${a.auc} on a model that generalises`);
      assert.ok(a.tpr_at_low_fpr[1].tpr < 0.04, `${a.attack}: TPR@1% ${a.tpr_at_low_fpr[1].tpr} on a model that generalises`);
    }
    // Without shadow models there is nothing to calibrate a threshold on, and the result says so.
    assert.equal(result.warnings.length, 2, result.warnings.join("; "));
  } finally {
    await target.release();
  }
});
