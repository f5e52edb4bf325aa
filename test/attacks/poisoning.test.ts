/**
 * The poisoning attacks as data transformations, without training: BadNets stamps its
 * trigger on exactly the budgeted rows (never the target class's own, all-to-one) and
 * relabels them; label flipping changes only labels; the manifest round-trips and is
 * refused when damaged; bad settings are AegisErrors that say what to do.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { badnets, compileTrigger, labelFlipping, loadManifest, maskOverlap, parseTrigger, poisonedFlags, saveManifest } from "../../src/attacks/index.js";
import { createRng, loadMnist } from "../../src/data/index.js";
import { AegisError } from "../../src/errors.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

const { train } = loadMnist();
const data = { x: sliceRows(train.x, 0, 500), labels: labelsOf(sliceRows(train.y, 0, 500)), numClasses: 10, source: "mnist" };
const refused = (code: string) => (e: unknown) => e instanceof AegisError && e.code === code;

test("BadNets all-to-one poisons 10% of the rows, none of the target class, stamps the four-pixel pattern and relabels them", async () => {
  const result = await badnets.poison(data, badnets.defaults, { rng: createRng(0) });
  const m = result.manifest;
  assert.equal(m.poisoned.length, 50);
  assert.ok(m.poisoned.every((r) => data.labels[r] !== 0));
  assert.deepEqual(
    m.original_labels,
    m.poisoned.map((r) => data.labels[r]),
  );
  const trigger = compileTrigger(badnets.defaults.trigger, [1, 28, 28]);
  const on = [...trigger.mask.keys()].filter((k) => trigger.mask[k] === 1);
  assert.equal(on.length, 4, "the pattern trigger has four pixels");
  const flags = poisonedFlags(m, 500);
  for (let i = 0; i < 500; i++) {
    const row = result.x.data.subarray(i * 784, (i + 1) * 784);
    if (flags[i]) {
      assert.equal(result.labels[i], 0);
      assert.ok(on.every((k) => row[k] === 1));
    } else {
      assert.equal(result.labels[i], data.labels[i]);
      assert.deepEqual(row, data.x.data.subarray(i * 784, (i + 1) * 784));
    }
  }
  assert.equal(maskOverlap(trigger.mask, trigger, 28), 1);
});

test("BadNets all-to-all sends class y to y + 1 mod 10; label flipping (targeted) touches only the source class's labels", async () => {
  const all = await badnets.poison(data, { ...badnets.defaults, mode: "all-to-all" }, { rng: createRng(1) });
  for (const [i, r] of all.manifest.poisoned.entries()) assert.equal(all.labels[r], (all.manifest.original_labels[i] + 1) % 10);
  const flipped = await labelFlipping.poison(data, { fraction: 0.05, source: 7, target: 1 }, { rng: createRng(2) });
  assert.equal(flipped.x, data.x, "the inputs are untouched");
  assert.equal(flipped.manifest.poisoned.length, 25);
  for (const r of flipped.manifest.poisoned) assert.ok(data.labels[r] === 7 && flipped.labels[r] === 1);
  const random = await labelFlipping.poison(data, labelFlipping.defaults, { rng: createRng(3) });
  for (const r of random.manifest.poisoned) assert.notEqual(random.labels[r], data.labels[r]);
});

test("the manifest round-trips through a file; a damaged one or bad settings are refused with what to do", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-poison-"));
  const result = await badnets.poison(data, { ...badnets.defaults, trigger: parseTrigger("patch:size=3,row=2,col=2", [1, 28, 28]) }, { rng: createRng(0) });
  const path = join(dir, "poison.json");
  saveManifest(path, result.manifest);
  assert.deepEqual(loadManifest(path), result.manifest);
  writeFileSync(join(dir, "bad.json"), JSON.stringify({ ...result.manifest, goal: { kind: "backdoor", target: 12, mode: "all-to-one" } }));
  assert.throws(() => loadManifest(join(dir, "bad.json")), refused("BAD_DATA"));
  assert.throws(() => loadManifest(join(dir, "missing.json")), refused("FILE_NOT_FOUND"));
  assert.throws(() => poisonedFlags(result.manifest, 100), refused("SHAPE_MISMATCH"));
  assert.throws(() => parseTrigger("star", [1, 28, 28]), refused("BAD_OPTION"));
  assert.throws(() => parseTrigger("patch:row=27", [1, 28, 28]), refused("BAD_OPTION"));
  assert.throws(() => parseTrigger("pattern", [10]), refused("UNSUPPORTED"));
  await assert.rejects(badnets.poison(data, { ...badnets.defaults, fraction: 1.5 }, { rng: createRng(0) }), refused("BAD_OPTION"));
  await assert.rejects(badnets.poison(data, { ...badnets.defaults, target: 10 }, { rng: createRng(0) }), refused("BAD_OPTION"));
  await assert.rejects(badnets.poison(data, { ...badnets.defaults, mode: "some" as "all-to-one" }, { rng: createRng(0) }), refused("BAD_OPTION"));
  await assert.rejects(labelFlipping.poison(data, { fraction: 0.5, source: 3, target: 4 }, { rng: createRng(0) }), refused("BAD_OPTION"));
});
