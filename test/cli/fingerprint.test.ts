/**
 * `aegis fingerprint make|verify` end to end at a tiny scale: the file `make` writes is what
 * `verify` reads, the victim itself verifies as a copy at every point, the reports go through
 * report/, and the mistakes a user can make exit 2 with a sentence — among them a fingerprint
 * too small for any suspect to reach its threshold, which `make` refuses to write. Whether fingerprints tell
 * copies from independent models is test/defenses/fingerprint.test.ts's job.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { aegis } from "../helpers/cli.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "aegis-fingerprint-"));
const fingerprintFile = join(tmp, "fp.json");

test("fingerprint make --param method=errors keeps the model's mistakes, the model itself repeats every one, and references too weak to judge it are refused", async () => {
  const file = join(tmp, "errors.json");
  const made = await aegis([
    "fingerprint",
    "make",
    "--model",
    demo,
    "--out",
    file,
    "--param",
    "method=errors",
    "correct=200",
    "calibrationReferences=6",
    "epochs=3",
  ]);
  assert.equal(made.code, 0, made.stderr);
  const stored = JSON.parse(readFileSync(file, "utf8"));
  assert.equal(stored.version, 4);
  const mistakes = stored.mistakes.mistakes;
  assert.equal(stored.labels.length, mistakes + 200);
  assert.match(made.stdout, new RegExp(`^${mistakes} of the model's mistakes and 200 points it labels right; .* verifies at ≥ \\d+ repeated`));
  const verified = await aegis(["fingerprint", "verify", "--model", demo, "--fingerprint", file]);
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(
    verified.stdout,
    new RegExp(`: ${mistakes}/${mistakes} of the model's mistakes repeated \\(100\\.0%, own error rate 0\\.0%\\), threshold \\d+, p = .* → COPY of`),
  );
  const weak = await aegis([
    "fingerprint",
    "make",
    "--model",
    demo,
    "--out",
    join(tmp, "weak.json"),
    "--param",
    "method=errors",
    "correct=200",
    "calibrationReferences=4",
    "epochs=1",
  ]);
  assert.equal(weak.code, 2);
  assert.match(weak.stderr, /even the model itself would not verify: .* raise --param epochs or calibrationReferences/);
});

test("fingerprint make writes a fingerprint that the victim itself verifies against at every point", async () => {
  const made = await aegis([
    "fingerprint",
    "make",
    "--model",
    demo,
    "--out",
    fingerprintFile,
    "--samples",
    "600",
    "--count",
    "16",
    "--param",
    "candidates=60",
    "epochs=2",
    "surrogates=1",
    "references=1",
    "maxIter=40",
  ]);
  assert.equal(made.code, 0, made.stderr);
  const stored = JSON.parse(readFileSync(fingerprintFile, "utf8"));
  assert.equal(stored.format, "aegis-fingerprint");
  const points = stored.labels.length;
  assert.equal(points, 16);
  assert.match(made.stdout, new RegExp(`^${points} points \\(\\d+ of \\d+ walks crossed\\); .* a suspect verifies at ≥ \\d+ matches`));

  const reportDir = join(tmp, "report");
  const verified = await aegis([
    "fingerprint",
    "verify",
    "--model",
    demo,
    "--fingerprint",
    fingerprintFile,
    "--report",
    reportDir,
    "--format",
    "json,md,sarif",
  ]);
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, new RegExp(`: ${points}/${points} points match \\(100\\.0%\\), threshold \\d+, p = .* → COPY of`));
  const report = JSON.parse(readFileSync(join(reportDir, "fingerprint.json"), "utf8"));
  assert.equal(report.matches, points);
  assert.equal(report.stolen, true);
  assert.match(readFileSync(join(reportDir, "fingerprint.md"), "utf8"), /\| matching rate \| 100\.0% \(16 of 16\) \|\n\| threshold \| \d+ matches/);
  assert.equal(JSON.parse(readFileSync(join(reportDir, "fingerprint.sarif"), "utf8")).version, "2.1.0");
});

test("fingerprint: mistakes a user can make exit 2 with what to do", async () => {
  const cases: [string[], RegExp][] = [
    [["fingerprint", "verify", "--fingerprint", fingerprintFile], /give the suspect as one of --model FILE or --target URL/],
    [
      ["fingerprint", "make", "--model", demo, "--out", join(tmp, "x.json"), "--param", "method=magic"],
      /--param method must be ipguard, conferrable or errors/,
    ],
    [["fingerprint", "make", "--model", demo, "--out", join(tmp, "x.json"), "--param", "depth=3"], /--param depth: no such parameter/],
    [
      ["fingerprint", "make", "--model", demo, "--out", join(tmp, "x.json"), "--reference-data", "mnist", "--reference-rows", "5:2"],
      /--reference-rows must be FROM:TO with 0 ≤ FROM < TO ≤ 8000/,
    ],
  ];
  // Too few points for any verdict: 3 references at alpha 1e-4 put one more independent model's bound 81 standard deviations above their mean.
  const tiny = [
    "--samples",
    "600",
    "--count",
    "8",
    "--param",
    "candidates=60",
    "epochs=2",
    "surrogates=1",
    "references=1",
    "calibrationReferences=3",
    "alpha=0.0001",
    "maxIter=40",
  ];
  cases.push([["fingerprint", "make", "--model", demo, "--out", join(tmp, "x.json"), ...tiny], /even a suspect matching all 8 points would not be accused/]);
  for (const [args, message] of cases) {
    const r = await aegis(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /internal error/);
  }
});
