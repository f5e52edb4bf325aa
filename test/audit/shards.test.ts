/** How runCurve splits a run into shards: seeds per shard, merged outputs, and deterministic attacks unchanged by sharding. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type AttackOutput, type AutoAttackOutput, attackByName } from "../../src/attacks/index.js";
import { mergeShards, planShards, runCurve, type ShardedRun, shardSeed } from "../../src/audit/index.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import type { Predictor } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { float32, labelsOf, sliceRows } from "../../src/tensor.js";

const DEMO = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;

test("shards are attack batches, each seeded from the run's seed and its index; shard 0 keeps the seed", () => {
  const shards = planShards(300, 128, 7);
  assert.deepEqual(
    shards.map((s) => [s.index, s.start, s.end]),
    [
      [0, 0, 128],
      [1, 128, 256],
      [2, 256, 300],
    ],
  );
  assert.equal(shards[0].seed, 7);
  assert.deepEqual(
    shards.map((s) => s.seed),
    [0, 1, 2].map((i) => shardSeed(7, i)),
  );
  assert.equal(new Set(shards.map((s) => s.seed)).size, 3, "every shard draws its own numbers");
  assert.notEqual(shardSeed(8, 1), shardSeed(7, 1), "and they follow the run's seed");
  assert.deepEqual(
    planShards(300, 128, 7, true).map((s) => [s.start, s.end, s.seed]),
    [[0, 300, 7]],
    "an attack over all samples together is one shard",
  );
});

test("merged shards are the rows in order, with queries and AutoAttack's record", () => {
  const part = (rows: number[], broken: (string | null)[], attacks: string[]): AttackOutput & AutoAttackOutput => ({
    x: float32(
      [rows.length, 2],
      rows.flatMap((r) => [r, -r]),
    ),
    queries: Int32Array.from(rows),
    brokenBy: broken,
    attacks,
  });
  const merged = mergeShards([part([1, 2], ["apgd-ce", null], ["apgd-ce", "apgd-t"]), part([3], ["clean"], ["apgd-ce"])]) as AutoAttackOutput;
  assert.deepEqual(merged.x.shape, [3, 2]);
  assert.deepEqual(Array.from(merged.x.data), [1, -1, 2, -2, 3, -3]);
  assert.deepEqual(Array.from(merged.queries ?? []), [1, 2, 3]);
  assert.deepEqual(merged.brokenBy, ["apgd-ce", null, "clean"]);
  assert.deepEqual(merged.attacks, ["apgd-ce", "apgd-t"], "a stage ran if it ran on any shard");
});

test("deterministic attacks give through shards exactly what one call over all samples gives", async () => {
  const model = await OnnxClassifier.fromFile(DEMO, { batchSize: 32, threads: 1 });
  try {
    const { test: data } = loadMnist();
    const x = sliceRows(data.x, 0, 80);
    const y = labelsOf(data.y).slice(0, 80);
    for (const [name, params] of [
      ["fgsm", { eps: 0.1 }],
      ["deepfool", { maxIter: 10 }],
    ] as const) {
      const attack = attackByName(name);
      assert.ok(attack);
      const all = { ...attack.defaults, ...params, batchSize: 32 };
      const whole = await attack.run(model, x, y, all, { rng: createRng(0) });
      const curve = await runCurve(attack, model, x, y, { epsilons: [name === "fgsm" ? 0.1 : null], params: all, seed: 0 });
      assert.deepEqual(curve.runs[0].output.x.data, whole.x.data, `${name}: 3 shards of 32, 32 and 16 samples`);
    }
  } finally {
    await model.release();
  }
});

test("a concurrent executor gets every ε at once and the curve comes back in order; a sequential one gets them one by one", async () => {
  const model = await OnnxClassifier.fromFile(DEMO, { batchSize: 16, threads: 1 });
  try {
    const { test: data } = loadMnist();
    const x = sliceRows(data.x, 0, 32);
    const y = labelsOf(data.y).slice(0, 32);
    const attack = attackByName("fgsm");
    assert.ok(attack);
    const params = { ...attack.defaults, batchSize: 16 };
    const epsilons = [0.05, 0.1, 0.2];
    const curveWith = async (concurrent: boolean) => {
      const events: string[] = [];
      const executor = Object.assign(
        async <M extends Predictor>(m: M, run: ShardedRun<M>): Promise<AttackOutput[]> => {
          events.push(`start ${run.params.eps}`);
          // Later runs answer first, as workers finishing out of order would.
          await new Promise((resolve) => setTimeout(resolve, 30 / (run.params.eps as number)));
          const outputs = await Promise.all(
            run.shards.map((s) => run.attack.run(m, sliceRows(run.x, s.start, s.end), run.y.slice(s.start, s.end), run.params, { rng: createRng(s.seed) })),
          );
          events.push(`end ${run.params.eps}`);
          return outputs;
        },
        { concurrent },
      );
      const curve = await runCurve(attack, model, x, y, { epsilons, params, seed: 3, executor });
      return { curve, events };
    };
    const pipelined = await curveWith(true);
    assert.deepEqual(pipelined.events.slice(0, 3), ["start 0.05", "start 0.1", "start 0.2"], "every run is handed over before any ends");
    assert.deepEqual(
      pipelined.curve.runs.map((r) => r.eps),
      epsilons,
    );
    const sequential = await curveWith(false);
    assert.deepEqual(sequential.events, ["start 0.05", "end 0.05", "start 0.1", "end 0.1", "start 0.2", "end 0.2"]);
    for (const [i, run] of pipelined.curve.runs.entries()) {
      assert.deepEqual(run.output.x.data, sequential.curve.runs[i].output.x.data, `ε ${run.eps}: the same examples either way`);
      assert.equal(run.metrics.robust_accuracy, sequential.curve.runs[i].metrics.robust_accuracy);
    }
    assert.ok(pipelined.curve.runs[2].metrics.robust_accuracy < pipelined.curve.runs[0].metrics.robust_accuracy, "and the curve falls with ε");

    const failing = Object.assign(
      async <M extends Predictor>(m: M, run: ShardedRun<M>): Promise<AttackOutput[]> => {
        if (run.params.eps === 0.2) throw new Error("a worker gave up on ε 0.2");
        await new Promise((resolve) => setTimeout(resolve, 100));
        return [await run.attack.run(m, run.x, run.y, run.params, { rng: createRng(0) })];
      },
      { concurrent: true },
    );
    const unhandled: unknown[] = [];
    const record = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", record);
    try {
      await assert.rejects(
        runCurve(attack, model, x, y, { epsilons, params: { ...params, batchSize: 32 }, seed: 3, executor: failing }),
        /gave up on ε 0.2/,
        "the failure surfaces as the curve's once the runs before it are scored",
      );
    } finally {
      process.off("unhandledRejection", record);
    }
    assert.deepEqual(unhandled, [], "and not as an unhandled rejection while they run");
  } finally {
    await model.release();
  }
});
