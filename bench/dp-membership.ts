/**
 * Membership inference against the same MLP trained with and without DP (issue 18's "train
 * with and without DP, attack both"): 500 MNIST training digits as members, 1,000 unseen test
 * digits as non-members, 4,000 other training digits as the attacker's reference data. The
 * non-private target trains 60 epochs (Adam 1e-3, batch 64: bench/inference.ts's overfit
 * target); the private one with DP-SGD at ε 1 (δ 1e-5, expected batch 64, C 1, SGD lr 1,
 * 30 epochs, σ solved by the RDP accountant). The loss-threshold attack and offline LiRA with
 * BENCH_DP_MIA_SHADOWS shadow models (default 16) attack both; the shadows train like the
 * non-private target (the attacks have no DP-SGD shadow training), which is the strongest
 * shadow set for the non-private model and a mismatched one for the private model.
 * Shadow models are checkpointed under bench/.cache/ (shared with bench/inference.ts).
 */
import { runMembershipInference } from "../src/attacks/index.js";
import { loadMnist } from "../src/data/index.js";
import { adam, buildArchitecture, OnnxClassifier, sgd, train } from "../src/engine/index.js";
import { trainDpSgd } from "../src/privacy/index.js";
import { gatherRows, labelsOf } from "../src/tensor.js";

export async function benchDpMembership(log: (line: string) => void = () => {}): Promise<string[]> {
  const shadows = Number(process.env.BENCH_DP_MIA_SHADOWS ?? 16);
  const mnist = loadMnist();
  const trainLabels = labelsOf(mnist.train.y);
  const testLabels = labelsOf(mnist.test.y);
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  const pick = (split: "train" | "test", rows: number[]) => ({
    x: gatherRows(mnist[split].x, rows),
    labels: rows.map((i) => (split === "train" ? trainLabels : testLabels)[i]),
  });
  const members = pick("train", range(0, 500));
  const nonMembers = pick("test", range(0, 1000));
  const reference = pick("train", range(4000, 8000));
  const fresh = () => OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 5 }), { trainable: true });
  const plain = await fresh();
  await train(plain, members, { epochs: 60, batchSize: 64, optimizer: adam({ lr: 1e-3 }), seed: 5 });
  const private1 = await fresh();
  const { plan } = await trainDpSgd(
    private1,
    members,
    { targetEpsilon: 1, delta: 1e-5, maxGradNorm: 1, batchSize: 64, epochs: 30 },
    { optimizer: sgd({ lr: 1 }), seed: 5, onEpoch: (s) => log(`  DP-SGD ε 1: epoch ${s.epoch}/30 accuracy ${(100 * s.accuracy).toFixed(1)}%`) },
  );
  const lines = [
    `membership inference with and without DP: MNIST MLP, 500 members, 1,000 non-members, ${shadows} shadow models (TPR at 0.1% FPR: chance is 0.1%)`,
  ];
  const training = { epochs: 60, batchSize: 64, optimizer: "adam" as const, lr: 1e-3, momentum: 0.9, weightDecay: 0, augment: "none" as const };
  for (const [name, target] of [
    ["non-private", plain],
    [`DP-SGD ε ${plan.epsilon.toFixed(2)} (σ ${plan.noiseMultiplier.toFixed(3)})`, private1],
  ] as const) {
    const result = await runMembershipInference({
      target,
      members,
      nonMembers,
      reference,
      attacks: ["loss", "lira-offline"],
      shadow: {
        config: { architecture: { arch: "mlp" }, numClasses: 10, training },
        count: shadows,
        trainSize: 500,
        workers: 1,
        checkpointDir: new URL(`./.cache/mia-mlp-overfit-${shadows}-1000`, import.meta.url).pathname,
      },
      log,
    });
    lines.push(`${name}: train ${(100 * result.target.member_accuracy).toFixed(1)}%, test ${(100 * result.target.non_member_accuracy).toFixed(1)}%`);
    for (const a of result.attacks)
      lines.push(
        `  ${a.title.padEnd(34)} AUC ${a.auc.toFixed(3)}  TPR@0.1% ${(100 * a.tpr_at_low_fpr[0].tpr).toFixed(1)}%  TPR@1% ${(100 * a.tpr_at_low_fpr[1].tpr).toFixed(1)}%`,
      );
    await target.release();
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDpMembership((l) => console.error(l))) console.log(line);
