/**
 * `aegis extract`: a Copycat run against the bundled CNN through a label-only API writes a
 * stolen ONNX model that agrees with the victim as the report says, the query log, and the
 * reports through report/ (a finding under AML.T0024.002 / ML05); user mistakes exit 2
 * with a sentence.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadMnist } from "../../src/data/index.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow, countCorrect } from "../../src/engine/trainer.js";
import { sliceRows } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";
import { serveModel } from "../helpers/model-endpoint.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "aegis-extract-"));

test("extract copycat --outputs labels: the stolen model, query log and reports agree with each other", async () => {
  const stolenFile = join(tmp, "stolen.onnx");
  const logFile = join(tmp, "log.json");
  const reportDir = join(tmp, "report");
  const r = await aegis([
    "extract",
    "copycat",
    "--model",
    demo,
    "--budget",
    "400",
    // Full MNIST's test digits: neither the demo model's training digits nor the ones the copy is judged on.
    "--thief-data",
    "mnist-full",
    "--arch",
    "mlp",
    "--outputs",
    "labels",
    "--samples",
    "300",
    "--transfer-samples",
    "100",
    "--checkpoints",
    "200",
    "--param",
    "epochs=8",
    "--out",
    stolenFile,
    "--query-log",
    logFile,
    "--report",
    reportDir,
    "--format",
    "json,md,html,sarif",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /warning/);
  assert.match(r.stdout, /^Copycat CNN: 400 queries \(labels\) → fidelity \d+\.\d%/);

  const report = JSON.parse(readFileSync(join(reportDir, "extraction.json"), "utf8"));
  assert.equal(report.queries, 400);
  assert.equal(report.output, "labels");
  assert.deepEqual(
    report.curve.map((p: { queries: number }) => p.queries),
    [200, 400],
  );
  assert.ok(report.fidelity >= 0.7, `fidelity ${report.fidelity}`);
  assert.equal(report.findings[0].capability, "extraction");
  assert.deepEqual(
    report.findings[0].references.map((x: { id: string }) => x.id),
    ["AML.T0024.002", "AML.T0048.004", "ML05"],
  );

  // The written model is the copy the report measured: same fidelity on the same 300 digits.
  const { test: mnist } = loadMnist();
  const x = sliceRows(mnist.x, 0, 300);
  const [victim, stolen] = [await OnnxClassifier.fromFile(demo), await OnnxClassifier.fromFile(stolenFile)];
  const victimOut = await victim.predict(x);
  const agree = countCorrect(
    await stolen.predict(x),
    Array.from({ length: 300 }, (_, i) => argmaxRow(victimOut, i)),
  );
  assert.equal(agree / 300, report.fidelity);

  const log = JSON.parse(readFileSync(logFile, "utf8"));
  assert.equal(log.spent, 400);
  assert.equal(
    log.calls.reduce((s: number, c: { queries: number }) => s + c.queries, 0),
    400,
  );
  assert.match(readFileSync(join(reportDir, "extraction.md"), "utf8"), /\| 200 \| [\d.]+% \| [\d.]+% \|/);
  assert.match(readFileSync(join(reportDir, "extraction.html"), "utf8"), /AEGIS-EXTRACTION-COPYCAT/);
  assert.equal(JSON.parse(readFileSync(join(reportDir, "extraction.sarif"), "utf8")).runs[0].results.length, 1);
});

test("extract warns when the thief's data are the samples the copy is judged on", async () => {
  const args = ["extract", "copycat", "--model", demo, "--budget", "50", "--arch", "mlp", "--samples", "50", "--transfer-samples", "0", "--param", "epochs=1"];
  const judged = await aegis([...args, "--thief-data", "mnist"]);
  assert.equal(judged.code, 0, judged.stderr);
  assert.match(judged.stderr, /warning: the thief's data \(mnist, test split\) are the samples the copy is judged on/);
  const other = await aegis([...args, "--thief-data", "mnist", "--thief-split", "train"]);
  assert.equal(other.code, 0, other.stderr);
  assert.doesNotMatch(other.stderr, /warning/);
});

test("extract --target URL: the class count is learned from one answer, or taken from --target-classes without that query", async (t) => {
  const victim = await OnnxClassifier.fromFile(demo);
  const endpoint = await serveModel(victim);
  t.after(async () => {
    await endpoint.close();
    await victim.release();
  });
  const args = ["extract", "copycat", "--target", endpoint.url, "--budget", "60", "--thief-data", "mnist", "--thief-split", "train"];
  const run = [...args, "--arch", "mlp", "--samples", "40", "--transfer-samples", "0", "--param", "epochs=1", "--json"];

  const learned = await aegis(run);
  assert.equal(learned.code, 0, learned.stderr);
  assert.match(learned.stderr, /10 classes, learned from the target's answer to one sample/);
  const report = JSON.parse(learned.stdout);
  assert.equal(report.queries, 60);
  // The budget, the victim's answers on the 40 judged samples, and the one probe.
  assert.equal(endpoint.received, 60 + report.evaluationQueries + 1);

  endpoint.received = 0;
  const given = await aegis([...run, "--target-classes", "10"]);
  assert.equal(given.code, 0, given.stderr);
  assert.doesNotMatch(given.stderr, /learned from the target/);
  assert.equal(endpoint.received, 60 + JSON.parse(given.stdout).evaluationQueries);

  // A wrong count is caught on the first answer, before anything is written.
  const wrong = await aegis([...run, "--target-classes", "7"]);
  assert.equal(wrong.code, 9, wrong.stderr);
  assert.match(wrong.stderr, /10 score\(s\) for sample 0 where 7 were expected/);
});

test("extract: mistakes a user can make exit 2 with what to do", async () => {
  const cases: [string[], RegExp][] = [
    [["extract", "copycat", "--model", demo, "--budget", "10"], /give it with --thief-data/],
    [["extract", "copycat", "--model", demo, "--budget", "10", "--thief-data", "noise", "--param", "epoch=3"], /--param epoch: copycat has no such parameter/],
    [["extract", "copycat", "--model", demo, "--budget", "10", "--thief-data", "noise", "--param", "decay=step"], /decay must be cosine or none, not "step"/],
    [
      ["extract", "knockoff", "--model", demo, "--budget", "10", "--thief-data", "noise", "--param", "temperature=0"],
      /temperature must be a positive number, not 0/,
    ],
    [
      ["extract", "copycat", "--model", demo, "--budget", "10", "--thief-data", "noise", "--param", "shift=2"],
      /shift is the share of images shifted, in \[0, 1\], not 2/,
    ],
    [["extract", "dfme", "--model", demo, "--budget", "100"], /one dfme iteration spends 1792 queries but the budget is 100/],
  ];
  for (const [args, message] of cases) {
    const r = await aegis(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /internal error/);
  }
});
