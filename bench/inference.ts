/**
 * Membership inference at the scale: a deliberately overfit MNIST target (500
 * members, 60 epochs, no regularisation) and a generalised one (weight decay 5·10⁻⁴ on 3,000
 * training digits, 6 epochs, its first 500 as members), 1,000 unseen test digits as
 * non-members (500 for the online attacks, which can attack at most twice the training-set
 * size), 4,000 other training digits as the attacker's reference data, 16 shadow models of
 * the target's architecture per plan trained like it. Shadow models are checkpointed under
 * bench/.cache/ with the targets (delete them to retrain). BENCH_MIA_ARCH (mlp | cnn, default mlp),
 * BENCH_MIA_SHADOWS (16 offline models), BENCH_MIA_ONLINE_SHADOWS (as many) and
 * BENCH_MIA_WORKERS (2) scale it; BENCH_MIA_TARGETS (overfit,generalised) and
 * BENCH_MIA_PLANS (offline,online) pick the targets and the attacks.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { type MembershipAttackName, type MembershipResult, runMembershipInference } from "../src/attacks/index.js";
import { loadMnist } from "../src/data/index.js";
import { type Architecture, buildArchitecture } from "../src/engine/architectures.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { adam } from "../src/engine/optimizers.js";
import { train } from "../src/engine/trainer.js";
import { writeFileAtomic } from "../src/fs.js";
import { decodeModel, encodeModel } from "../src/onnx/proto.js";
import { gatherRows, labelsOf } from "../src/tensor.js";

const arch = (process.env.BENCH_MIA_ARCH ?? "mlp") as Architecture;
const shadows = Number(process.env.BENCH_MIA_SHADOWS ?? 16);
const onlineShadows = Number(process.env.BENCH_MIA_ONLINE_SHADOWS ?? shadows);
const plans = (process.env.BENCH_MIA_PLANS ?? "offline,online").split(",");
const workers = Number(process.env.BENCH_MIA_WORKERS ?? 2);
const targets = (process.env.BENCH_MIA_TARGETS ?? "overfit,generalised").split(",");
const cache = new URL("./.cache/", import.meta.url).pathname;

/** The header names only the shadow models the chosen plans train. */
function shadowCounts(): string {
  const counts = [];
  if (plans.includes("offline")) counts.push(`${shadows} offline`);
  if (plans.includes("online")) counts.push(`${onlineShadows} online`);
  return `${counts.join(" and ")} shadow models`;
}

const OFFLINE: MembershipAttackName[] = ["loss", "confidence", "shokri", "label-only", "lira-offline", "rmia"];
const ONLINE: MembershipAttackName[] = ["lira-online", "rmia-online"];

export async function benchInference(log: (line: string) => void = () => {}): Promise<string[]> {
  const mnist = loadMnist();
  const trainLabels = labelsOf(mnist.train.y);
  const testLabels = labelsOf(mnist.test.y);
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  const pick = (split: "train" | "test", rows: number[]) => ({
    x: gatherRows(mnist[split].x, rows),
    labels: rows.map((i) => (split === "train" ? trainLabels : testLabels)[i]),
  });
  const reference = pick("train", range(4000, 8000));
  const members = pick("train", range(0, 500));
  const lines = [`membership inference, MNIST ${arch}, ${shadowCounts()} (AUC, balanced accuracy, TPR at 0.1% and 1% FPR)`];
  for (const setting of [
    { name: "overfit", trainSize: 500, epochs: 60, weightDecay: 0 },
    { name: "generalised", trainSize: 3000, epochs: 6, weightDecay: 5e-4 },
  ].filter((s) => targets.includes(s.name))) {
    const target = await cachedTarget(`${cache}mia-${arch}-${setting.name}-target.onnx`, async () => {
      const model = await OnnxClassifier.create(buildArchitecture(arch, { inputShape: [1, 28, 28], numClasses: 10, seed: 5 }), { trainable: true });
      await train(model, pick("train", range(0, setting.trainSize)), {
        epochs: setting.epochs,
        batchSize: 64,
        optimizer: adam({ lr: 1e-3, weightDecay: setting.weightDecay }),
        seed: 5,
      });
      return model;
    });
    const training = { ...setting, batchSize: 64, optimizer: "adam" as const, lr: 1e-3, momentum: 0.9, augment: "none" as const };
    const run = (attacks: MembershipAttackName[], nonMembers: number, count: number): Promise<MembershipResult> =>
      runMembershipInference({
        target,
        members,
        nonMembers: pick("test", range(0, nonMembers)),
        reference,
        attacks,
        shadow: {
          config: { architecture: { arch }, numClasses: 10, training },
          count,
          trainSize: setting.trainSize,
          workers,
          checkpointDir: `${cache}mia-${arch}-${setting.name}-${count}-${nonMembers}`,
        },
        log,
      });
    // Online plans need each candidate in half the models: at most 2 × 500 candidates for the overfit target.
    const results: MembershipResult[] = [];
    if (plans.includes("offline")) results.push(await run(OFFLINE, 1000, shadows));
    if (plans.includes("online")) results.push(await run(ONLINE, setting.trainSize === 500 ? 500 : 1000, onlineShadows));
    await target.release();
    const { member_accuracy, non_member_accuracy } = results[0].target;
    lines.push(`${setting.name}: train ${(100 * member_accuracy).toFixed(1)}%, test ${(100 * non_member_accuracy).toFixed(1)}%`);
    for (const r of results)
      for (const a of r.attacks)
        lines.push(
          `  ${a.title.padEnd(34)} AUC ${a.auc.toFixed(3)}  bal. acc. ${(100 * a.balanced_accuracy).toFixed(1)}%  TPR@0.1% ${(100 * a.tpr_at_low_fpr[0].tpr).toFixed(1)}%  TPR@1% ${(100 * a.tpr_at_low_fpr[1].tpr).toFixed(1)}%  (${r.non_members} non-members)`,
        );
  }
  return lines;
}

/** The target saved in `path` when an earlier run trained it (60 CNN epochs are minutes), else trained and saved there. */
export async function cachedTarget(path: string, trainIt: () => Promise<OnnxClassifier>): Promise<OnnxClassifier> {
  if (existsSync(path)) return OnnxClassifier.create(decodeModel(readFileSync(path)));
  mkdirSync(dirname(path), { recursive: true });
  const model = await trainIt();
  writeFileAtomic(path, encodeModel(model.exportModel()));
  return model;
}
