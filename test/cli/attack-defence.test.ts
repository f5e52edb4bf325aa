/** `aegis attack --defence`: a defence that masks gradients holds against its own gradients and falls to BPDA through it. */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { aegis } from "../helpers/cli.js";

const model = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));

test("1-bit squeezing baked into ONNX: PGD through its own (zero) gradients fails, BPDA through the squeezer breaks it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-attack-defence-"));
  const wrapped = join(dir, "wrapped.onnx");
  const defended = await aegis(["defend", "--model", model, "--preprocess", "squeeze:bits=1", "--out", wrapped]);
  assert.equal(defended.code, 0, defended.stderr);
  const robust = async (extra: string[]) => {
    const r = await aegis(["attack", "pgd", "--defence", join(dir, "wrapped.defence.json"), "--samples", "50", "--eps", "0.3", "--json", ...extra]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { robust_accuracy: number; target: { adaptive: boolean } };
    return { accuracy: report.robust_accuracy, adaptive: report.target.adaptive };
  };
  const naive = await robust(["--non-adaptive"]);
  const adaptive = await robust([]);
  assert.deepEqual([naive.adaptive, adaptive.adaptive], [false, true]);
  assert.ok(naive.accuracy >= 0.9, `non-adaptive PGD leaves ${naive.accuracy}`);
  assert.ok(adaptive.accuracy <= naive.accuracy - 0.2, `adaptive ${adaptive.accuracy} vs non-adaptive ${naive.accuracy}`);
  const both = await aegis(["attack", "pgd", "--defence", join(dir, "wrapped.defence.json"), "--model", model]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give one of --model FILE, --defence FILE or --target URL/);
});
