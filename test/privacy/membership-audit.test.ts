/**
 * The membership audit (privacy/dp/membership-audit.ts):
 * - the bound checks: TPR ≤ e^ε·FPR + δ, tested one-sided with the FPR's Clopper–Pearson
 *   upper bound and a binomial tail on the member count, Bonferroni over the checks;
 * - a DP-SGD with its noise switched off (the test-only noiseScale 0) that claims ε ≈ 0.1 is
 *   caught: its members are told apart far better than e^0.1·FPR allows.
 * (The correct DP-SGD against its non-private twin runs through the CLI: test/cli/privacy-membership-audit.test.ts.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMnist } from "../../src/data/index.js";
import { buildArchitecture, OnnxClassifier } from "../../src/engine/index.js";
import { type AttackLeakage, auditMembership, boundChecks, membershipAuditFinding } from "../../src/privacy/index.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

const leak = (roc: [number, number][]): AttackLeakage => ({
  attack: "loss",
  title: "Loss threshold",
  auc: 0.6,
  tpr_at_low_fpr: [],
  roc,
});

test("bound checks: a TPR far above e^ε·FPR + δ is significant, one near the bound or on too few samples is not", () => {
  const counts = { members: 1000, nonMembers: 1000 };
  // ε 1 at FPR 10 %: the bound is 27.2 %; 50 % of 1,000 members is far above it.
  const above = boundChecks(
    [
      leak([
        [0, 0],
        [0.1, 0.5],
        [1, 1],
      ]),
    ],
    counts,
    1,
    1e-5,
    0.95,
  );
  assert.deepEqual(
    above.map((c) => [c.at, c.fpr, c.tpr]),
    [
      [0.001, 0, 0],
      [0.01, 0, 0],
      [0.1, 0.1, 0.5],
      [0.5, 0.1, 0.5],
    ],
  );
  assert.ok(Math.abs(above[2].bound - (Math.E * 0.1 + 1e-5)) < 1e-12);
  assert.deepEqual(
    above.map((c) => c.violated),
    [false, false, true, true],
  );
  assert.ok(above[2].pValue < 1e-6, String(above[2].pValue));
  // 30 % exceeds the nominal bound, but not beyond what 1,000 samples can tell from it.
  const near = boundChecks(
    [
      leak([
        [0, 0],
        [0.1, 0.3],
        [1, 1],
      ]),
    ],
    counts,
    1,
    1e-5,
    0.95,
  );
  assert.equal(near[2].violated, false);
  assert.ok(near[2].pValue > 0.01 && near[2].pValue < 1, String(near[2].pValue));
  // 5 % TPR at 1 % FPR breaks ε 1's 2.7 % only with many samples: 1,000 are not enough, 20,000 are.
  const low = leak([
    [0, 0],
    [0.01, 0.05],
    [1, 1],
  ]);
  assert.equal(boundChecks([low], counts, 1, 1e-5, 0.95)[1].violated, false);
  assert.equal(boundChecks([low], { members: 20000, nonMembers: 20000 }, 1, 1e-5, 0.95)[1].violated, true);
});

const { train } = loadMnist();
const MEMBERS = 300;
// Every fourth label moved to another class, in all three sets alike: outliers a model fits only by memorising them, as canaries are.
const rows = (from: number, to: number) => ({
  x: sliceRows(train.x, from, to),
  labels: labelsOf(sliceRows(train.y, from, to)).map((label, i) => ((from + i) % 4 === 0 ? (label + 1 + ((from + i) % 9)) % 10 : label)),
});

async function audit(noiseScale: number) {
  const classifier = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 2 }), { trainable: true });
  try {
    return await auditMembership({
      classifier,
      shadow: { architecture: { arch: "mlp" }, numClasses: 10 },
      members: rows(0, MEMBERS),
      nonMembers: rows(MEMBERS, 2 * MEMBERS),
      reference: rows(2 * MEMBERS, 2000),
      settings: { noiseMultiplier: 50, maxGradNorm: 1, delta: 1e-5, batchSize: 32, epochs: 30, noiseSeed: 2 },
      lr: 1,
      twinLr: 0.1,
      shadows: 1,
      seed: 2,
      noiseScale,
    });
  } finally {
    await classifier.release();
  }
}

test("a DP-SGD without noise that claims ε ≈ 0.12 is flagged DP-AUDIT-VIOLATION; with its noise it is not", async () => {
  const broken = await audit(0);
  assert.ok(broken.claimedEpsilon > 0.1 && broken.claimedEpsilon < 0.15, String(broken.claimedEpsilon));
  assert.equal(broken.violated, true);
  // Measured: offline LiRA finds 16% of the members at 1% FPR, where ε 0.12 allows 1.1%.
  const lira = broken.checks.find((c) => c.attack === "lira-offline" && c.at === 0.01);
  assert.ok(lira?.violated && lira.tpr > 0.08, JSON.stringify(lira));
  const finding = membershipAuditFinding(broken, { file: "mnist" });
  assert.equal(finding.rule, "DP-AUDIT-VIOLATION");
  assert.equal(finding.severity, "critical");

  const sound = await audit(1);
  assert.equal(sound.claimedEpsilon, broken.claimedEpsilon);
  assert.equal(sound.violated, false, JSON.stringify(sound.checks));
  assert.ok(sound.checks.every((c) => c.pValue > 0.01));
  // With ε ≈ 0.12 the attacks are near chance: AUC within 0.45..0.6, against ≥ 0.7 without the noise.
  for (const a of sound.models[0].attacks) assert.ok(a.auc > 0.45 && a.auc < 0.6, `${a.attack} ${a.auc}`);
  for (const a of broken.models[0].attacks) assert.ok(a.auc >= 0.7, `${a.attack} ${a.auc}`);
  assert.equal(membershipAuditFinding(sound).rule, "DP-MEMBERSHIP");
});
