/**
 * The clean-label backdoor (Turner et al. 2019) as a data transformation: it touches only
 * rows of the target class, keeps every label, moves each poisoned row at most ε (outside
 * the trigger) in a direction the robust proxy finds harder, and stamps the paper's 3×3
 * checkerboard. Then `aegis poison clean-label` and its errors. Whether a model trained on
 * the result obeys the trigger is in test/defenses/clean-label-backdoor.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { cleanLabel, compileTrigger, type PoisonManifest, poisonedFlags } from "../../src/attacks/index.js";
import { createRng, loadDataset, loadMnist, saveNpz } from "../../src/data/index.js";
import { OnnxClassifier } from "../../src/engine/index.js";
import { AegisError } from "../../src/errors.js";
import { float32, gatherRows, labelsOf, sliceRows } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const proxyFile = new URL("../../models/mnist-cnn-pgd-at.onnx", import.meta.url).pathname;
const proxy = await OnnxClassifier.fromFile(proxyFile, { threads: 1 });
const { train } = loadMnist();
const data = { x: sliceRows(train.x, 0, 500), labels: labelsOf(sliceRows(train.y, 0, 500)), numClasses: 10, source: "mnist" };
const refused = (code: string) => (e: unknown) => e instanceof AegisError && e.code === code;

after(() => proxy.release());

test("clean-label poisons 5% of the rows, all of the target class, keeps every label and moves each row at most ε before stamping the checkerboard", async () => {
  const result = await cleanLabel.poison(data, cleanLabel.defaults, { rng: createRng(0), model: proxy });
  const m = result.manifest;
  assert.equal(m.poisoned.length, 25);
  assert.ok(
    m.poisoned.every((r) => data.labels[r] === 0),
    "only rows of the target class",
  );
  assert.deepEqual(result.labels, data.labels, "no label changes");
  assert.deepEqual(m.goal, { kind: "backdoor", target: 0, mode: "all-to-one" });
  assert.deepEqual(m.trigger, { kind: "patch", size: 3, row: 24, col: 24, fill: "checkerboard", value: 1 });
  assert.ok(m.trigger);
  const trigger = compileTrigger(m.trigger, [1, 28, 28]);
  const flags = poisonedFlags(m, 500);
  let moved = 0;
  for (let i = 0; i < 500; i++) {
    const before = data.x.data.subarray(i * 784, (i + 1) * 784);
    const row = result.x.data.subarray(i * 784, (i + 1) * 784);
    if (!flags[i]) {
      assert.deepEqual(row, before);
      continue;
    }
    for (let k = 0; k < 784; k++) {
      if (trigger.mask[k] === 1) assert.equal(row[k], trigger.pattern[k]);
      else {
        assert.ok(Math.abs(row[k] - before[k]) <= 16 / 255 + 1e-6, `row ${i} pixel ${k} moved ${row[k] - before[k]}`);
        assert.ok(row[k] >= 0 && row[k] <= 1);
        if (Math.abs(row[k] - before[k]) > 1e-3) moved++;
      }
    }
  }
  assert.ok(moved > 25 * 100, `PGD moved ${moved} pixels of the 25 rows`);
  // Hard to learn: the robust proxy's loss on the perturbed rows (before the trigger) is higher than on the clean ones.
  const clean = gatherRows(data.x, m.poisoned);
  const perturbed = float32(clean.shape, Float32Array.from(gatherRows(result.x, m.poisoned).data));
  const loss = async (x: typeof clean) => (await proxy.valueAndGradient(x, m.original_labels)).loss.reduce((a, b) => a + b, 0);
  const stampedOnly = float32(clean.shape, Float32Array.from(clean.data));
  for (let r = 0; r < m.poisoned.length; r++) for (let k = 0; k < 784; k++) if (trigger.mask[k] === 1) stampedOnly.data[r * 784 + k] = trigger.pattern[k];
  const [hard, easy] = [await loss(perturbed), await loss(stampedOnly)];
  assert.ok(hard > 1.5 * easy, `proxy loss ${hard} on the poisons against ${easy} with the trigger alone`);
});

test("clean-label refuses to run without a proxy model, with a budget beyond the target class, or with a bad ε", async () => {
  await assert.rejects(cleanLabel.poison(data, cleanLabel.defaults, { rng: createRng(0) }), refused("BAD_OPTION"));
  await assert.rejects(cleanLabel.poison(data, { ...cleanLabel.defaults, fraction: 0.2 }, { rng: createRng(0), model: proxy }), refused("BAD_OPTION"));
  await assert.rejects(cleanLabel.poison(data, { ...cleanLabel.defaults, eps: 0 }, { rng: createRng(0), model: proxy }), refused("BAD_OPTION"));
  await assert.rejects(cleanLabel.poison(data, { ...cleanLabel.defaults, target: 10 }, { rng: createRng(0), model: proxy }), refused("BAD_OPTION"));
});

test("aegis poison clean-label writes the set and its manifest; without --model it exits 2 and says what to give", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-clean-label-"));
  const input = join(dir, "train.npz");
  const y = labelsOf(sliceRows(train.y, 0, 200));
  saveNpz(input, { x: sliceRows(train.x, 0, 200), y: { dtype: "int64", shape: [200], data: BigInt64Array.from(y, BigInt) } });
  const out = join(dir, "poisoned.npz");
  const manifest = join(dir, "poison.json");
  const run = await aegis([
    "poison",
    "clean-label",
    "--data",
    input,
    "--model",
    proxyFile,
    "--target",
    "1",
    "--eps",
    "0.1",
    "--max-iter",
    "5",
    "--out",
    out,
    "--manifest",
    manifest,
    "--threads",
    "1",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const written = JSON.parse(readFileSync(manifest, "utf8")) as PoisonManifest;
  assert.equal(written.attack, "clean-label");
  assert.equal(written.poisoned.length, 10);
  assert.equal(written.params.eps, 0.1);
  const poisoned = loadDataset(out);
  assert.ok(poisoned.y);
  assert.deepEqual(labelsOf(poisoned.y), y, "labels unchanged");
  assert.ok(written.poisoned.every((r) => y[r] === 1));
  const noModel = await aegis(["poison", "clean-label", "--data", input, "--out", out, "--manifest", manifest]);
  assert.equal(noModel.code, 2, noModel.stderr);
  assert.match(noModel.stderr, /--model/);
  const wrongAttack = await aegis(["poison", "badnets", "--data", input, "--eps", "0.1", "--out", out, "--manifest", manifest]);
  assert.equal(wrongAttack.code, 2, wrongAttack.stderr);
});
