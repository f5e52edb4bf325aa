import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadDataset, loadMnistFull, saveNpz } from "../../src/data/index.js";
import { rotateImages } from "../../src/monitoring/index.js";
import { float32, sliceRows } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";
import { sarifValidator, schemaValidator } from "../helpers/schemas.js";

const root = new URL("../../", import.meta.url).pathname;
const fraud = join(root, "fixtures/data/fraud.npz");
const fraudModel = join(root, "fixtures/models/fraud_mlp.onnx");
const tmp = mkdtempSync(join(tmpdir(), "aegis-drift-cli-"));

test("aegis drift on the fraud fixture: no drift on its test split, exit 14 and every report naming the shifted feature", async () => {
  const detector = join(tmp, "fraud-drift.json");
  const fit = await aegis([
    "drift",
    "fit",
    "--model",
    fraudModel,
    "--data",
    fraud,
    "--x-key",
    "x_train",
    "--feature-names",
    join(root, "fixtures/data/fraud.constraints.json"),
    "--out",
    detector,
  ]);
  assert.equal(fit.code, 0, fit.stderr);
  assert.match(fit.stderr, /12 features \(\d+ categorical\)/);

  const clean = await aegis(["drift", "check", "--detector", detector, "--data", fraud, "--x-key", "x_test"]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /^no drift:/);

  const test = loadDataset(fraud, { xKey: "x_test" }).x;
  const shifted = float32(
    test.shape,
    Float32Array.from(test.data, (v, i) => (i % 12 === 0 ? v * 1.3 : v)),
  );
  const current = join(tmp, "fraud-shifted.npz");
  saveNpz(current, { x: shifted });
  const out = join(tmp, "fraud-report");
  const drift = await aegis(["drift", "check", "--detector", detector, "--data", current, "--format", "json,md,html,sarif", "--out", out]);
  assert.equal(drift.code, 14, drift.stderr);
  assert.match(drift.stdout, /^DRIFT: .*\n {2}DRIFT feature +amount +ks/);
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.equal(report.kind, "drift");
  assert.deepEqual(
    report.findings.filter((f: { rule: string }) => f.rule === "AEGIS-DRIFT-FEATURE").map((f: { location: { symbol: string } }) => f.location.symbol),
    ["amount"],
  );
  const validate = schemaValidator("finding.schema.json");
  for (const f of report.findings) assert.ok(validate(f), JSON.stringify(validate.errors));
  const sarif: { runs: { results: { ruleId: string }[] }[] } = JSON.parse(readFileSync(join(out, "report.sarif"), "utf8"));
  const validSarif = sarifValidator();
  assert.ok(validSarif(sarif), JSON.stringify(validSarif.errors));
  assert.ok(sarif.runs[0].results.some((r) => r.ruleId === "AEGIS-DRIFT-FEATURE"));
  const html = readFileSync(join(out, "report.html"), "utf8");
  // One histogram per feature, the drifted one framed.
  assert.equal(html.match(/<svg /g)?.length, 12);
  assert.match(html, /class="hist drifted"><h3>amount /);
  assert.match(readFileSync(join(out, "report.md"), "utf8"), /\| feature \| amount \| KS \|/);
});

test("aegis drift on MNIST: rotated digits are flagged with the most drifted ones shown; a wrong model or a damaged detector is refused", async () => {
  const { x } = loadMnistFull("test");
  const reference = join(tmp, "mnist-reference.npz");
  const rotated = join(tmp, "mnist-rotated.npz");
  saveNpz(reference, { x: sliceRows(x, 0, 1000) });
  saveNpz(rotated, { x: rotateImages(sliceRows(x, 1000, 1200), 15) });
  const detector = join(tmp, "mnist-drift.json");
  const model = join(root, "models/mnist-cnn.onnx");
  const fit = await aegis(["drift", "fit", "--model", model, "--data", reference, "--out", detector]);
  assert.equal(fit.code, 0, fit.stderr);
  assert.match(fit.stderr, /MMD on .* \(128 features, 1000 reference rows/);

  const out = join(tmp, "mnist-report");
  // Run from another folder: the detector finds its model relative to itself.
  const check = await aegis(["drift", "check", "--detector", detector, "--data", rotated, "--format", "html,json", "--out", out, "--json"], { cwd: tmpdir() });
  assert.equal(check.code, 14, check.stderr);
  const report = JSON.parse(check.stdout);
  assert.equal(report.method, "mmd");
  assert.ok(report.tests.find((t: { kind: string }) => t.kind === "embedding").drifted);
  assert.equal(report.mostDrifted.length, 8);
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.equal(html.match(/<img alt="row \d+" src="data:image\/png;base64,/g)?.length, 8);

  const other = await aegis(["drift", "check", "--detector", detector, "--data", rotated, "--model", join(root, "models/mnist-cnn-pgd-at.onnx")]);
  assert.equal(other.code, 4);
  assert.match(other.stderr, /fitted with mnist-cnn\.onnx/);
  const damaged = join(tmp, "damaged.json");
  writeFileSync(damaged, readFileSync(detector, "utf8").replace('"method":"mmd"', '"method":"psi"'));
  const bad = await aegis(["drift", "check", "--detector", damaged, "--data", rotated]);
  assert.equal(bad.code, 5);
  assert.match(bad.stderr, /not a valid Aegis drift detector \(unknown method "psi"\)/);
  assert.equal((await aegis(["drift", "check", "--detector", join(tmp, "missing.json"), "--data", rotated])).code, 3);
  const few = await aegis(["drift", "fit", "--model", model, "--data", reference, "--out", join(tmp, "x.json"), "--permutations", "30"]);
  assert.equal(few.code, 2);
  assert.match(few.stderr, /give at least 60/);
});
