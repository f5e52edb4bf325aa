/**
 * The CLI on hostile files, kept to a few processes (the volume is in-process, see
 * harness.ts): `aegis scan` over the whole crash corpus, and `aegis predict` on hostile
 * .npy data. Each must end with a documented exit code, one clean sentence on stderr and,
 * for --json, nothing but JSON on stdout.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { EXIT_CODES } from "../../src/errors.js";
import { aegis } from "../helpers/cli.js";
import { assertNoInternals, CORPUS, FIXTURES } from "./harness.js";
import { npyTarget } from "./targets/data.js";

const DOCUMENTED = new Set([0, 11, ...Object.values(EXIT_CODES)]);
const tmp = mkdtempSync(join(tmpdir(), "aegis-fuzz-cli-"));

test("aegis scan --json over the crash corpus: exit 0 or 11, a JSON report on stdout, nothing on stderr", async () => {
  // The HDF5 file that loops the reader forever costs its 20 s time limit; the rest of the corpus makes the point.
  const paths = readdirSync(CORPUS)
    .filter((folder) => folder !== "hdf5")
    .map((folder) => join(CORPUS, folder));
  const r = await aegis(["scan", ...paths, join(CORPUS, "hdf5/library-abort.h5"), "--json"]);
  assert.ok(r.code === 0 || r.code === 11, `exit ${r.code}: ${r.stderr}`);
  const report = JSON.parse(r.stdout) as { files: { findings: { rule: string }[] }[] };
  assert.ok(report.files.some((f) => f.findings.some((x) => x.rule === "MALFORMED-HEADER")));
  // Nothing else speaks: HDF5 once printed its C error stack here, 7-Zip set the exit status.
  assert.equal(r.stderr, "");
});

test("aegis predict on hostile .npy data (the 5,000-bracket header, a mutant): a documented exit code and one clean sentence", async () => {
  const [mutant] = fc.sample(npyTarget.inputs(), { seed: 24, numRuns: 1 });
  writeFileSync(join(tmp, "mutant.npy"), mutant);
  const model = join(FIXTURES, "models/tabular_mlp.onnx");
  const [deep, mutated] = await Promise.all(
    [join(CORPUS, "npy/deep-brackets.npy"), join(tmp, "mutant.npy")].map((data) => aegis(["predict", "--model", model, "--data", data, "--json"])),
  );
  assert.equal(deep.code, 5, deep.stderr);
  assert.match(
    deep.stderr,
    /^aegis: .*deep-brackets\.npy has a malformed \.npy header \(brackets nest more than 32 levels deep at character \d+\); re-save it with numpy\.save\.\n$/,
  );
  for (const r of [deep, mutated]) {
    assert.ok(DOCUMENTED.has(r.code) && r.code !== 70, `exit ${r.code}: ${r.stderr}`);
    if (r.code !== 0) assert.match(r.stderr, /^aegis: [^\n]+\n$/);
    assertNoInternals(r.stderr, "aegis predict's stderr");
  }
});
