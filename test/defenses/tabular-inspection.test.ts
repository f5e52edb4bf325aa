/**
 * Finding a tabular blind spot's rows: influence (TracIn self-influence, with the victim
 * retrained on the poisoned fraud rows) and RONI (its own small learners) rank the poisoned rows above the clean ones, scored against the manifest as
 * `aegis inspect-data --manifest` scores them; and the command runs both.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { blindSpot, fraudData, trainFraudModel } from "../../bench/tabular-poisoning.js";
import { poisonedFlags, saveManifest } from "../../src/attacks/index.js";
import { saveNpz } from "../../src/data/index.js";
import { inspectData, roni } from "../../src/defenses/index.js";
import { saveModel } from "../../src/onnx/io.js";
import { float32, tensor } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const { train, trusted, constraints } = fraudData();

test("influence and RONI rank a 1% injection's rows above the clean ones, and report their recall at 5% false positives", async () => {
  const poisoned = await blindSpot(train, constraints, "inject", 0.01);
  const truth = poisonedFlags(poisoned.manifest, poisoned.labels.length);
  const victim = await trainFraudModel(poisoned);
  const data = { x: poisoned.x, labels: poisoned.labels, name: "fraud" };
  try {
    const byInfluence = await inspectData(victim, data, "victim", { defence: "influence", poisoned: truth });
    const t = byInfluence.truth;
    assert.ok(t && t.roc_auc >= 0.9 && t.recall_at_5_fpr >= 0.6, JSON.stringify(t));
    assert.equal(byInfluence.flagged, Math.ceil(0.05 * poisoned.labels.length));
    assert.ok(
      byInfluence.classes.every((c) => !c.suspicious),
      "influence ranks rows within their class and names no class",
    );
  } finally {
    await victim.release();
  }
  // RONI quizzes on rows of the data here; on a 1% injection its trusted quiz set ranks no better than chance (the README's table).
  const byRoni = await inspectData(undefined, data, "none", { defence: "roni", poisoned: truth });
  assert.ok(byRoni.truth && byRoni.truth.roc_auc >= 0.7 && byRoni.truth.recall_at_5_fpr >= 0.4, JSON.stringify(byRoni.truth));
});

test("aegis inspect-data --defence roni|influence scores against the manifest; influence without --model is a usage error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-tabular-inspection-"));
  const poisoned = await blindSpot(train, constraints, "flip", 0.02);
  const file = join(dir, "poisoned.npz");
  saveNpz(file, { x: poisoned.x, y: tensor("int64", [poisoned.labels.length], BigInt64Array.from(poisoned.labels, BigInt)) });
  saveManifest(join(dir, "poison.json"), poisoned.manifest);
  const trustedFile = join(dir, "trusted.npz");
  saveNpz(trustedFile, {
    x: float32(trusted.x.shape, trusted.x.data),
    y: tensor("int64", [trusted.labels.length], BigInt64Array.from(trusted.labels, BigInt)),
  });
  const roni = await aegis(["inspect-data", "--data", file, "--defence", "roni", "--trusted", trustedFile, "--manifest", join(dir, "poison.json"), "--json"]);
  assert.equal(roni.code, 0, roni.stderr);
  const report = JSON.parse(roni.stdout);
  assert.equal(report.flagged, 200);
  assert.ok(report.truth.roc_auc > 0.5 && report.truth.recall_at_5_fpr >= 0, roni.stdout.slice(0, 400));
  const victim = await trainFraudModel(poisoned, { epochs: 5 });
  saveModel(join(dir, "victim.onnx"), victim.exportModel());
  await victim.release();
  const influence = await aegis([
    "inspect-data",
    "--model",
    join(dir, "victim.onnx"),
    "--data",
    file,
    "--defence",
    "influence",
    "--manifest",
    join(dir, "poison.json"),
  ]);
  assert.equal(influence.code, 0, influence.stderr);
  assert.match(influence.stdout, /influence: 200 of 4000 rows .* flagged[\s\S]*recall at 5% false positives \d/);
  const missing = await aegis(["inspect-data", "--data", file, "--defence", "influence"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /needs --model/);
});

test("RONI refuses images and trusted rows of other features, saying what to use instead", () => {
  assert.throws(
    () => roni(float32([4, 784]), [0, 1, 2, 3], 10),
    (e: Error & { code?: string }) => e.code === "BAD_OPTION" && /use activation-clustering/.test(e.message),
  );
  assert.throws(
    () => roni(float32([4, 3]), [0, 1, 0, 1], 2, { trusted: { x: float32([2, 4]), labels: [0, 1] } }),
    (e: Error & { code?: string }) => e.code === "SHAPE_MISMATCH",
  );
});
