/**
 * Neural Cleanse's outlier test on the classes' trigger sizes, without reversing anything.
 * The paper's rule (anomaly index of ‖m‖₁ > 2) is a per-class cut-off: over 10 classes with
 * no outlier at all, one of them crosses it in about a third of draws, and on the MNIST CNNs
 * it ranked three classes of the clean bundled model above a real backdoor. The default rule
 * (log ‖m‖₁, family-wise cut-off for a 5% false-alarm rate) holds its rate on outlier-free
 * draws and separates the two models' measured trigger sizes; the sizes are those
 * bench/neural-cleanse.ts measured with the CLI's defaults (500 clean test digits, at most
 * 100 epochs of 500 inputs a class).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng } from "../../src/data/index.js";
import { smallTriggerOutliers } from "../../src/defenses/index.js";

const BUNDLED_CLEAN = [66.8, 79.0, 46.2, 50.1, 67.8, 53.8, 72.4, 68.0, 67.7, 68.9];
/** The engine's CNN trained on 8,000 digits with BadNets 10% → class 0. */
const BACKDOORED = [3.0, 63.8, 39.0, 33.6, 76.9, 51.5, 53.8, 69.6, 49.5, 71.8];
const flagged = (norms: number[], options: Parameters<typeof smallTriggerOutliers>[1] = {}) =>
  smallTriggerOutliers(norms, options).flagged.flatMap((f, i) => (f ? [i] : []));

test("the default cut-off holds a 5% false-alarm rate over 10 outlier-free classes, where the paper's 2 alarms about a third of the time", () => {
  const { anomalyThreshold } = smallTriggerOutliers(new Array(10).fill(1));
  assert.ok(anomalyThreshold > 3.6 && anomalyThreshold < 4.1, `cut-off ${anomalyThreshold}`);
  // Independent draws (another generator than the calibration's): trigger sizes log-normal around 60.
  const rng = createRng(12345);
  const draws = 4000;
  let alarms = 0;
  let paperAlarms = 0;
  for (let d = 0; d < draws; d++) {
    const norms = Array.from({ length: 10 }, () => 60 * Math.exp(0.2 * rng.normal()));
    if (flagged(norms, { anomalyThreshold, minSizeRatio: 1 }).length > 0) alarms++;
    if (flagged(norms, { anomalyThreshold: 2, minSizeRatio: 1 }).length > 0) paperAlarms++;
  }
  assert.ok(alarms / draws > 0.03 && alarms / draws < 0.07, `false-alarm rate ${alarms / draws}`);
  assert.ok(paperAlarms / draws > 0.25, `the paper's cut-off alarms on ${paperAlarms / draws} of the draws`);
});

test("the measured trigger sizes: the bundled clean CNN has no class named, the BadNets CNN has its target named far above the cut-off", () => {
  assert.deepEqual(flagged(BUNDLED_CLEAN), []);
  assert.deepEqual(flagged(BACKDOORED), [0]);
  const { anomaly, anomalyThreshold } = smallTriggerOutliers(BACKDOORED);
  assert.ok(anomaly[0] > anomalyThreshold + 2, `the backdoor's index ${anomaly[0]} against the cut-off ${anomalyThreshold}`);
  // What went wrong before: on raw sizes (the log of e^‖m‖₁) the paper's rule names clean classes
  // of the bundled CNN, and the backdoor scores lower than they do, so no cut-off separates them.
  const raw = (norms: number[]) => smallTriggerOutliers(norms.map(Math.exp), { anomalyThreshold: 2, minSizeRatio: 1 });
  assert.deepEqual(
    raw(BUNDLED_CLEAN).flagged.flatMap((f, i) => (f ? [i] : [])),
    [2, 3, 5],
  );
  assert.ok(raw(BACKDOORED).anomaly[0] < Math.max(...raw(BUNDLED_CLEAN).anomaly));
});
