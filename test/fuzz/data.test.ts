/** Hostile data files: .npy, .npz, CSV and image folders, in memory and through loadDataset (see harness.ts). */
import { test } from "node:test";
import { assertTarget } from "./harness.js";
import { dataTargets } from "./targets/data.js";

for (const target of dataTargets) {
  test(`${target.name}: ${target.covers} — succeed or fail cleanly, within the time bound`, () => assertTarget(target));
}
