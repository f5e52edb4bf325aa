/**
 * Drift for a model that takes token ids: the ids go through the model's own embedding and
 * MMD runs on its penultimate features. Texts from the same vocabulary as the reference do
 * not drift; texts on another "topic" (other tokens) do, and the report renders without images.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createRng } from "../../src/data/index.js";
import { checkDrift, fitDrift, renderDriftHtml } from "../../src/monitoring/index.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { float32 } from "../../src/tensor.js";
import { tokenModel } from "../helpers/token-model.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-drift-tokens-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const MODEL = join(dir, "tokens.onnx");
writeFileSync(MODEL, encodeModel(tokenModel({ vocabulary: 200, dimension: 16, length: 12, classes: 3, seed: 1 })));

/** n texts of 6–12 tokens drawn from ids [from, to), padded with 0 to 12. */
function texts(n: number, from: number, to: number, seed: number) {
  const rng = createRng(seed);
  const ids = new Float32Array(n * 12);
  for (let i = 0; i < n; i++) {
    const length = 6 + rng.int(7);
    for (let t = 0; t < length; t++) ids[i * 12 + t] = from + rng.int(to - from);
  }
  return float32([n, 12], ids);
}

test("token-id models: fresh texts of the reference's vocabulary do not drift, texts on other tokens do", async () => {
  const detector = await fitDrift(MODEL, { x: texts(300, 1, 100, 1), name: "topic A" });
  assert.equal(detector.detector.method, "mmd");
  assert.ok(detector.model.layer, "it reads a layer of the model");
  const alarms = [];
  for (const seed of [2, 3, 4, 5, 6]) alarms.push((await checkDrift(detector, { x: texts(150, 1, 100, seed), name: "topic A" })).drift);
  assert.ok(alarms.filter(Boolean).length <= 1, `fresh samples of the same texts: ${alarms}`);
  const shifted = await checkDrift(detector, { x: texts(150, 100, 200, 7), name: "topic B" });
  assert.equal(shifted.drift, true);
  const mmd = shifted.tests.find((t) => t.kind === "embedding");
  assert.ok(mmd?.drifted, JSON.stringify(shifted.tests));
  assert.match(renderDriftHtml(shifted), /topic B/);
  await assert.rejects(checkDrift(detector, { x: float32([2, 5], new Float32Array(10)), name: "short" }), /token ids \[12\]/);
});
