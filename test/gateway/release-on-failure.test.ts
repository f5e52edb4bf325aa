/**
 * A guard that fails to build its routes (at start or on reload) releases every ONNX session
 * it had already opened for the routes before the failing one; a running guard's sessions
 * are released when it closes. Counted by wrapping OnnxClassifier.fromFile.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { startGuard } from "../../src/gateway/guard.js";

const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "aegis-guard-release-"));
const broken = join(dir, "broken.onnx");
writeFileSync(broken, "not an onnx model");

let opened = 0;
let released = 0;
const fromFile = OnnxClassifier.fromFile;
OnnxClassifier.fromFile = async (...args: Parameters<typeof fromFile>) => {
  const classifier = await fromFile.apply(OnnxClassifier, args);
  opened++;
  const release = classifier.release.bind(classifier);
  classifier.release = async () => {
    released++;
    await release();
  };
  return classifier;
};

function config(name: string, models: string[]): string {
  const file = join(dir, name);
  const routes = models.map((m, i) => `  - { name: r${i}, model: ${m} }\n`).join("");
  writeFileSync(file, `server: { port: 0 }\nauth: { anonymousRoles: [predict] }\nauditLog: { path: audit.db }\nroutes:\n${routes}`);
  return file;
}

test("a guard that fails on its third route at start releases the first two routes' sessions", async () => {
  [opened, released] = [0, 0];
  await assert.rejects(startGuard(config("start.yaml", [modelPath, modelPath, broken])));
  assert.equal(opened, 2);
  assert.equal(released, 2);
});

test("a failed reload releases what it opened and keeps the running routes; close releases those", async () => {
  [opened, released] = [0, 0];
  const file = config("reload.yaml", [modelPath]);
  const guard = await startGuard(file);
  try {
    assert.equal(opened, 1);
    config("reload.yaml", [modelPath, modelPath, broken]);
    await assert.rejects(guard.reload());
    assert.equal(opened, 3);
    assert.equal(released, 2, "the failed generation's two sessions, not the running one");
    const answer = await fetch(`${guard.url}/v1/models/r0:predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ instances: [Array.from({ length: 28 }, () => Array.from({ length: 28 }, () => 0))].map((rows) => [rows]) }),
    });
    assert.equal(answer.status, 200, await answer.text());
  } finally {
    await guard.close();
  }
  assert.equal(released, opened);
});
