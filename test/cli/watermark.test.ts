/**
 * `aegis watermark embed|verify|robustness` end to end at small scale: an MLP trained on 1,500
 * digits is marked from an .npz file; the key is private; verify finds the mark in the marked
 * model and not in the model it came from (exit 15 only with --fail-if-absent), writes its
 * reports through report/ (the finding against the published schema, SARIF against the
 * official one); robustness measures removals (fine-tuning, RTLL/RTAL re-training, pruning); user mistakes exit with their documented codes
 * and a sentence.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadMnist } from "../../src/data/index.js";
import { encodeNpz } from "../../src/data/npz.js";
import { adam, buildArchitecture, OnnxClassifier, train } from "../../src/engine/index.js";
import { saveModel } from "../../src/onnx/io.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";
import { sarifValidator, schemaValidator } from "../helpers/schemas.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-watermark-"));
const { train: mnistTrain, test: mnistTest } = loadMnist();
const trainFile = join(tmp, "train.npz");
const testFile = join(tmp, "test.npz");
writeFileSync(trainFile, encodeNpz({ x: sliceRows(mnistTrain.x, 0, 1500), y: sliceRows(mnistTrain.y, 0, 1500) }));
writeFileSync(testFile, encodeNpz({ x: sliceRows(mnistTest.x, 0, 500), y: sliceRows(mnistTest.y, 0, 500) }));
const original = join(tmp, "mlp.onnx");
const marked = join(tmp, "marked.onnx");
const key = join(tmp, "wm.json");
{
  const classifier = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 1 }), { trainable: true });
  await train(
    classifier,
    { x: sliceRows(mnistTrain.x, 0, 1500), labels: labelsOf(mnistTrain.y).slice(0, 1500) },
    { epochs: 3, batchSize: 64, optimizer: adam({ lr: 1e-3 }) },
  );
  saveModel(original, classifier.exportModel());
  await classifier.release();
}

test("watermark embed marks the model, keeps its accuracy and writes a private key", async () => {
  const r = await aegis([
    "watermark",
    "embed",
    "--model",
    original,
    "--data",
    trainFile,
    "--test-data",
    testFile,
    "--out",
    marked,
    "--key",
    key,
    "--seed",
    "11",
    "--epochs",
    "6",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.seed, 11);
  assert.equal(out.after.triggers.verified, true, JSON.stringify(out.after.triggers));
  assert.equal(out.before.triggers.verified, false);
  assert.ok(out.after.accuracy >= out.before.accuracy - 0.03, `accuracy ${out.before.accuracy} → ${out.after.accuracy}`);
  assert.equal(statSync(key).mode & 0o777, 0o600);
  const written = JSON.parse(readFileSync(key, "utf8"));
  assert.equal(written.triggers.count, 100);
  assert.equal(written.labels.length, 100);
  assert.equal(written.source.file, "mlp.onnx");
  assert.equal(written.embedding.samples, 1500);
});

test("watermark verify: present in the marked model, absent from the original; reports through report/", async () => {
  const reportDir = join(tmp, "report");
  const yes = await aegis(["watermark", "verify", "--model", marked, "--key", key, "--report", reportDir, "--format", "json,md,html,sarif"]);
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, /^watermark PRESENT: \d+\/100 triggers/);
  const report = JSON.parse(readFileSync(join(reportDir, "watermark.json"), "utf8"));
  assert.equal(report.sameFile, true);
  assert.equal(report.findings[0].rule, "AEGIS-WATERMARK-PRESENT");
  assert.equal(report.findings[0].capability, "ownership");
  const findingSchema = schemaValidator("finding.schema.json");
  assert.ok(findingSchema(report.findings[0]), JSON.stringify(findingSchema.errors));
  const sarif = sarifValidator();
  assert.ok(sarif(JSON.parse(readFileSync(join(reportDir, "watermark.sarif"), "utf8"))), JSON.stringify(sarif.errors));
  assert.match(readFileSync(join(reportDir, "watermark.md"), "utf8"), /AEGIS-WATERMARK-PRESENT/);

  const no = await aegis(["watermark", "verify", "--model", original, "--key", key, "--json"]);
  assert.equal(no.code, 0, no.stderr);
  const verdict = JSON.parse(no.stdout);
  assert.equal(verdict.verification.verified, false);
  assert.ok(verdict.verification.pValue > 1e-3);
  assert.equal(verdict.findings[0].rule, "AEGIS-WATERMARK-ABSENT");
  const failing = await aegis(["watermark", "verify", "--model", original, "--key", key, "--fail-if-absent"]);
  assert.equal(failing.code, 15);
  assert.match(failing.stdout, /^watermark not found/);
});

test("watermark robustness: the rows of a removal table, each verified against the key", async () => {
  const r = await aegis([
    "watermark",
    "robustness",
    "--model",
    marked,
    "--key",
    key,
    "--data",
    trainFile,
    "--test-data",
    testFile,
    "--fine-tune-epochs",
    "3",
    "--retrain",
    "rtll,rtal",
    "--prune",
    "0.5,0.99",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.fineTuneSamples, 150);
  assert.deepEqual(
    out.rows.map((row: { removal: string; setting?: number }) => [row.removal, row.setting]),
    [
      ["none", undefined],
      ["fine-tune", 3],
      ["rtll", 3],
      ["rtal", 3],
      ["prune", 0.5],
      ["prune", 0.99],
    ],
  );
  const [original, tuned, , , halved, gutted] = out.rows;
  assert.equal(original.verification.verified, true);
  assert.equal(tuned.verification.verified, true, JSON.stringify(tuned.verification));
  assert.equal(halved.verification.verified, true);
  // 99% pruned: the mark and the model go together.
  assert.ok(gutted.accuracy < original.accuracy - 0.3, `accuracy ${gutted.accuracy}`);
  const missing = await aegis(["watermark", "robustness", "--model", marked, "--key", key, "--copycat-budget", "100"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--thief-data/);
  const unknown = await aegis(["watermark", "robustness", "--model", marked, "--key", key, "--retrain", "ftll"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--retrain takes rtll and rtal, not "ftll"/);
});

test("watermark verify: user mistakes exit with their documented codes and a sentence", async () => {
  const tampered = join(tmp, "tampered.json");
  const k = JSON.parse(readFileSync(key, "utf8"));
  k.labels[0] = (k.labels[0] + 1) % 10;
  k.triggers.levels = `A${k.triggers.levels.slice(1)}`;
  writeFileSync(tampered, JSON.stringify(k));
  for (const [args, code, message] of [
    [["--model", marked, "--key", tampered], 5, /altered/],
    [["--model", marked, "--key", join(tmp, "none.json")], 3, /does not exist/],
    [["--key", key], 2, /--model FILE or --target URL/],
    [["--model", marked, "--key", key, "--threshold", "2"], 2, /--threshold must be in \(0, 1\)/],
  ] as const) {
    const r = await aegis(["watermark", "verify", ...args]);
    assert.equal(r.code, code, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});
