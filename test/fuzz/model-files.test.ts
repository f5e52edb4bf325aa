/** Hostile model files: every format `aegis scan` recognises, the ONNX decoder and the pickle VM (see harness.ts). */
import { test } from "node:test";
import { assertTarget } from "./harness.js";
import { modelFileTargets } from "./targets/model-files.js";

for (const target of modelFileTargets) {
  test(`${target.name}: ${target.covers} — succeed or fail cleanly, within the time bound`, async () => {
    await target.start?.();
    try {
      await assertTarget(target);
    } finally {
      await target.stop?.();
    }
  });
}
