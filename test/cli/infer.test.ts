/**
 * `aegis infer membership` end to end through the real binary: an overfit MLP saved as ONNX,
 * members, non-members and reference data picked from the built-in MNIST by row range,
 * shadow models of the target's own architecture re-initialised; the reports carry one
 * finding mapped to OWASP ML04 and ATLAS AML.T0024.000 that validates against the finding
 * schema, valid SARIF, a log-axis ROC chart and JUnit; user mistakes exit 2 with a sentence.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { saveNpz } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { adam } from "../../src/engine/optimizers.js";
import { train } from "../../src/engine/trainer.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { float32 } from "../../src/tensor.js";
import { attributeRecords } from "../helpers/attribute-task.js";
import { aegis } from "../helpers/cli.js";
import { writeOverfitMlp } from "../helpers/overfit-mlp.js";
import { sarifValidator, schemaValidator } from "../helpers/schemas.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-infer-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const modelPath = join(dir, "overfit.onnx");
await writeOverfitMlp(modelPath);

const membership = (nonMembers: string, reference: string) => [
  "infer",
  "membership",
  "--model",
  modelPath,
  "--members",
  "mnist:train:0-100",
  "--non-members",
  nonMembers,
  "--reference",
  reference,
];

test("infer membership writes the privacy report: a finding under ML04 / AML.T0024.000, SARIF, ROC on log axes, JUnit", async () => {
  const out = join(dir, "report");
  const r = await aegis([
    ...membership("mnist:test:0-300", "mnist:train:4000-5000"),
    "--attacks",
    "loss,lira-offline",
    "--shadows",
    "2",
    "--shadow-epochs",
    "30",
    "--shadow-batch-size",
    "32",
    "--population",
    "300",
    "--format",
    "json,md,html,sarif,junit",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /LiRA, offline/);
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.equal(report.result.members, 100);
  assert.equal(report.result.shadow.architecture, "the target's, re-initialised");
  assert.equal(report.result.target.member_accuracy, 1);
  const lira = report.result.attacks.find((a: { attack: string }) => a.attack === "lira-offline");
  assert.ok(lira.auc > 0.6, `LiRA AUC ${lira.auc}`);
  assert.equal(report.findings.length, 1);
  const [finding] = report.findings;
  assert.equal(finding.rule, "AEGIS-PRIVACY-MEMBERSHIP");
  assert.equal(finding.capability, "inference");
  assert.deepEqual(
    finding.references.map((x: { id: string }) => x.id),
    ["ML04", "AML.T0024.000", "privacy"],
  );
  const validFinding = schemaValidator("finding.schema.json");
  assert.ok(validFinding(finding), JSON.stringify(validFinding.errors));
  const validSarif = sarifValidator();
  assert.ok(validSarif(JSON.parse(readFileSync(join(out, "report.sarif"), "utf8"))), JSON.stringify(validSarif.errors));
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.match(html, /ROC curves on log axes/);
  assert.match(html, /<polyline[^>]+points="[\d., ]+"><title>LiRA, offline/);
  assert.match(readFileSync(join(out, "report.md"), "utf8"), /\| LiRA, offline \|/);
  assert.match(readFileSync(join(out, "report.junit.xml"), "utf8"), /<failure message="(high|medium) leak/);
});

test("user mistakes exit 2 with a sentence that says what to do", async () => {
  const base = membership("mnist:test:0-100", "mnist:train:4000-4500");
  const badAttack = await aegis([...base, "--attacks", "loss,lira"]);
  assert.equal(badAttack.code, 2);
  assert.match(badAttack.stderr, /--attacks takes a comma-separated list of .*not "lira"/);
  const pastEnd = await aegis([...base.slice(0, 5), "mnist:train:7900-8100", ...base.slice(6)]);
  assert.equal(pastEnd.code, 2);
  assert.match(pastEnd.stderr, /rows 7900-8100 go past the 8000 samples/);
  // 400 candidates cannot go into half of the online models at 100 samples each: refused before any model trains.
  const tooManyOnline = await aegis(membership("mnist:test:0-300", "mnist:train:4000-4500"));
  assert.equal(tooManyOnline.code, 2);
  assert.match(tooManyOnline.stderr, /online attacks train each shadow model on up to 200 of the 400 candidate samples/);
  assert.doesNotMatch(tooManyOnline.stderr, /training \d+ offline shadow models/);
  const tooFewReference = await aegis([...base, "--train-size", "1000", "--attacks", "lira-offline"]);
  assert.equal(tooFewReference.code, 5);
  assert.match(tooFewReference.stderr, /reference data has only 500; give more reference data/);
});

test("infer inversion reconstructs the demo CNN's digits and shows them beside the class means", async () => {
  const out = join(dir, "inversion");
  const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
  const r = await aegis([
    "infer",
    "inversion",
    "--model",
    demo,
    "--classes",
    "1,4",
    "--max-iter",
    "60",
    "--lr",
    "0.5",
    "--format",
    "json,html,sarif",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.deepEqual(
    report.classes.map((c: { class: number }) => c.class),
    [1, 4],
  );
  for (const c of report.classes) {
    assert.ok(c.confidence > 0.9 && c.rank === 1, `class ${c.class}: confidence ${c.confidence}, rank ${c.rank}`);
    assert.match(c.image.reconstruction, /^data:image\/png;base64,/);
  }
  assert.equal(report.findings[0].rule, "AEGIS-PRIVACY-INVERSION");
  assert.deepEqual(
    report.findings[0].references.map((x: { id: string }) => x.id),
    ["ML03", "AML.T0024.001", "privacy"],
  );
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 4);
  const bad = await aegis(["infer", "inversion", "--model", demo, "--classes", "12"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /class 12 is not one of the model's classes 0\.\.9/);
});

test("infer attribute reports the gain over the baseline on training records and on unseen ones", async () => {
  const training = attributeRecords(200, 1);
  for (const [name, d] of [
    ["training", training],
    ["auxiliary", attributeRecords(400, 2)],
    ["unseen", attributeRecords(400, 3)],
  ] as const)
    saveNpz(join(dir, `${name}.npz`), { x: d.x, y: float32([d.labels.length], d.labels) });
  const model = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [6], numClasses: 2, seed: 1 }), {
    trainable: true,
    clipRange: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
  });
  await train(model, training, { epochs: 300, batchSize: 32, optimizer: adam({ lr: 1e-3 }), seed: 1 });
  const tabular = join(dir, "tabular.onnx");
  writeFileSync(tabular, encodeModel(model.exportModel()));
  await model.release();
  const out = join(dir, "attribute");
  const attack = ["infer", "attribute", "--model", tabular, "--records", join(dir, "training.npz"), "--auxiliary", join(dir, "auxiliary.npz")];
  const r = await aegis([...attack, "--unseen", join(dir, "unseen.npz"), "--column", "0", "--format", "json,md", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.ok(report.attacked.black_box - report.attacked.baseline >= 0.05, JSON.stringify(report.attacked));
  assert.ok(report.unseen.black_box - report.unseen.baseline < 0.05, JSON.stringify(report.unseen));
  assert.equal(report.findings[0].rule, "AEGIS-PRIVACY-ATTRIBUTE");
  const bad = await aegis([...attack, "--column", "1"]);
  assert.equal(bad.code, 5);
  assert.match(bad.stderr, /categorical column/);
});
