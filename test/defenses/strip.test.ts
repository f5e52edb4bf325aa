/**
 * STRIP as a fitted detector (`aegis detect fit --detector strip`): the overlay bank and the
 * threshold survive a save and load (the guard loads the same file), and the threshold keeps
 * its false-rejection rate on the clean inputs it was set on. Its power against a real
 * backdoor is tested in poisoning.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { loadMnist } from "../../src/data/index.js";
import { fitStrip, loadDetector, saveDetector } from "../../src/defenses/index.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { AegisError } from "../../src/errors.js";
import { sliceRows } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;

test("a fitted STRIP detector scores the same after saving and loading, at its false-rejection rate", async () => {
  const { test: held } = loadMnist();
  const model = await OnnxClassifier.fromFile(demo);
  const clean = sliceRows(held.x, 0, 110);
  const detector = await fitStrip(model, clean, { overlays: 10, fpr: 0.1 });
  assert.equal(detector.overlays.shape[0], 10);
  const others = sliceRows(held.x, 200, 230);
  const scores = await detector.score(others);
  const path = join(mkdtempSync(join(tmpdir(), "aegis-strip-")), "strip.json");
  saveDetector(path, detector, demo, { data: "mnist-test[0:110]", samples: 110 });
  const loaded = await loadDetector(path, demo);
  assert.equal(loaded.detector.threshold, detector.threshold);
  assert.deepEqual(await loaded.detector.score(others), scores);
  await loaded.release();
  // The threshold sits at 10% false rejections on the 100 calibration digits (the bank excluded).
  const calibration = await detector.score(sliceRows(held.x, 0, 110));
  const flagged = calibration.filter((s) => s > detector.threshold).length;
  assert.ok(flagged >= 8 && flagged <= 12, `${flagged} of 110 clean digits flagged`);
  await assert.rejects(fitStrip(model, sliceRows(held.x, 0, 10), { overlays: 10 }), (e: unknown) => e instanceof AegisError && e.code === "BAD_DATA");
  // A file fitted before the superimposition saturated holds a threshold for another statistic: refused, to be fitted again.
  const file = JSON.parse(readFileSync(path, "utf8"));
  delete file.params.superimposition;
  const old = join(dirname(path), "old-strip.json");
  writeFileSync(old, JSON.stringify(file));
  await assert.rejects(
    loadDetector(old, demo),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_DATA" && /refit it with aegis detect fit/.test(e.message),
  );
  await model.release();
});
