/**
 * `aegis audit --defence`: the full audit of a model wrapped by `aegis defend`, adaptive by
 * default. 1-bit squeezing masks the gradient of the deployed graph, so the non-adaptive
 * audit overstates it (Athalye, Carlini & Wagner 2018) and must say so; BPDA through the
 * squeezer shows what is left.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { AuditReport } from "../../src/audit/types.js";
import { aegis } from "../helpers/cli.js";
import { schemaValidator } from "../helpers/schemas.js";

const model = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
const validate = schemaValidator("audit-report.schema.json");
const MASKING_WARNING = /overstates a gradient-masking defence \(Athalye, Carlini & Wagner 2018\); rerun without --non-adaptive/;

test("audit --defence: adaptive PGD breaks 1-bit squeezing that the non-adaptive audit reports as robust, and the reports say how it was attacked", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-audit-defence-"));
  const defended = await aegis(["defend", "--model", model, "--preprocess", "squeeze:bits=1", "--out", join(dir, "wrapped.onnx")]);
  assert.equal(defended.code, 0, defended.stderr);
  const sidecar = join(dir, "wrapped.defence.json");
  const audit = async (name: string, extra: string[]) => {
    const out = join(dir, name);
    const r = await aegis(["audit", "--defence", sidecar, "--attacks", "pgd", "--samples", "100", "--eps", "0.3", "--out", out, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    const report: AuditReport = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    assert.ok(validate(report), JSON.stringify(validate.errors));
    return {
      report,
      pgd: report.attacks[0].runs[0].robust_accuracy,
      stdout: r.stdout,
      html: readFileSync(join(out, "report.html"), "utf8"),
      md: readFileSync(join(out, "report.md"), "utf8"),
    };
  };
  const adaptive = await audit("adaptive", []);
  const naive = await audit("non-adaptive", ["--non-adaptive"]);

  // Measured: 98% non-adaptive, 68% adaptive on these 100 digits (clean 99%).
  assert.ok(naive.pgd >= 0.9, `non-adaptive PGD leaves ${naive.pgd}`);
  assert.ok(adaptive.pgd <= 0.8, `adaptive PGD leaves ${adaptive.pgd}`);
  assert.ok(adaptive.pgd <= naive.pgd - 0.2, `adaptive ${adaptive.pgd} vs non-adaptive ${naive.pgd}`);
  assert.ok(adaptive.report.clean_accuracy >= 0.95, `clean accuracy through the squeezer ${adaptive.report.clean_accuracy}`);
  assert.equal(adaptive.report.clean_accuracy, naive.report.clean_accuracy, "both audits predict through the same deployed defence");

  assert.deepEqual(adaptive.report.model.defence, { file: sidecar, preprocessors: ["squeeze:bits=1"], postprocessors: [], adaptive: true, eot: 1 });
  assert.equal(naive.report.model.defence?.adaptive, false);
  assert.equal(adaptive.report.model.path, join(dir, "wrapped.onnx"), "the report names the deployed model");

  assert.ok(
    naive.report.warnings.some((w) => MASKING_WARNING.test(w)),
    naive.report.warnings.join("\n"),
  );
  assert.ok(!adaptive.report.warnings.some((w) => MASKING_WARNING.test(w)), adaptive.report.warnings.join("\n"));
  assert.match(naive.md, MASKING_WARNING);
  assert.match(naive.html, /overstates a gradient-masking defence/);

  assert.match(adaptive.stdout, /^defence\s+squeeze:bits=1 before the model \(.*wrapped\.defence\.json\), attacked adaptively: BPDA/m);
  assert.match(naive.stdout, /^defence\s+squeeze:bits=1 .*attacked non-adaptively/m);
  assert.match(adaptive.html, /<tr><th>defence<\/th><td>squeeze:bits=1 before the model/);
  assert.match(adaptive.html, /<tr><th>attacked<\/th><td>adaptively: BPDA through the preprocessors/);
  assert.match(naive.html, /<tr><th>attacked<\/th><td>non-adaptively: through the deployed model&#39;s own gradients/);
  assert.match(adaptive.md, /^- defence: squeeze:bits=1 before the model .*, attacked adaptively: BPDA/m);
  assert.match(adaptive.report.findings[0].detail, /Measured through the defence squeeze:bits=1 .*attacked adaptively/);

  const refused = async (args: string[], message: RegExp) => {
    const r = await aegis(["audit", ...args, "--out", join(dir, "refused")]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  };
  await refused(["--defence", sidecar, "--compare", model, model], /--defence cannot be combined with --compare/);
  await refused(["--defence", sidecar, "--model", model], /--defence names the model to audit .*drop --model/);
  await refused(["--non-adaptive"], /--non-adaptive applies only to a defended model: add --defence/);
});

test("audit --defence averages gradients over 10 draws through a randomised defence unless --eot says otherwise", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-audit-eot-"));
  const defended = await aegis(["defend", "--model", model, "--preprocess", "noise:sigma=0.25", "--out", join(dir, "noisy.onnx")]);
  assert.equal(defended.code, 0, defended.stderr);
  const recorded = async (extra: string[]) => {
    const r = await aegis([
      "audit",
      "--defence",
      join(dir, "noisy.defence.json"),
      "--attacks",
      "fgsm",
      "--samples",
      "20",
      "--eps",
      "0.2",
      "--json",
      "--out",
      join(dir, "out"),
      ...extra,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as AuditReport).model.defence;
  };
  assert.deepEqual(await recorded([]), {
    file: join(dir, "noisy.defence.json"),
    preprocessors: ["noise:sigma=0.25"],
    postprocessors: [],
    adaptive: true,
    eot: 10,
  });
  assert.equal((await recorded(["--eot", "3"]))?.eot, 3);
});
