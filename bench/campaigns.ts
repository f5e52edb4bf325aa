/**
 * Campaigns: PGD-40 (L∞ ε = 0.3) on MNIST test digits with the bundled CNN, sharded at the
 * audit's default shard size (one attack batch of 128), run here in one process and then on
 * 1, 2 and 3 `aegis worker` processes at one ONNX Runtime thread each, through the Redis
 * of scripts/start-test-services.sh (BENCH_REDIS_URL). The per-job overhead is what a job
 * costs beyond its attack (queueing, storing and fetching blobs, loading the model once per
 * worker, merging), measured on one worker; the speed-up at 10 and 100 workers is projected
 * from it for a 10,000-image audit of three ε. Smaller shards are measured too, to show why
 * the default is 128. BENCH_CAMPAIGN_SAMPLES scales the run (default 768: 6 shards).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { attackByName } from "../src/attacks/index.js";
import { localExecutor, runCurve, type ShardExecutor } from "../src/audit/index.js";
import { openCampaign } from "../src/campaigns/index.js";
import { loadMnist } from "../src/data/index.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { loadModel } from "../src/onnx/io.js";
import { encodeModel } from "../src/onnx/proto.js";
import { labelsOf, sliceRows } from "../src/tensor.js";

const REDIS = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const DEMO = fileURLToPath(new URL("../models/mnist-cnn.onnx", import.meta.url));
const BIN = fileURLToPath(new URL("../bin/aegis.js", import.meta.url));
const samples = Number(process.env.BENCH_CAMPAIGN_SAMPLES ?? 768);

export async function benchCampaigns(log: (line: string) => void = () => {}): Promise<string[]> {
  const probe = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await probe.connect();
  } catch {
    return [`campaigns: no Redis at ${REDIS} (scripts/start-test-services.sh starts one); skipped`];
  } finally {
    probe.disconnect();
  }
  const pgd = attackByName("pgd");
  if (!pgd) throw new Error("pgd is not registered");
  const { test } = loadMnist();
  const x = sliceRows(test.x, 0, samples);
  const labels = labelsOf(test.y).slice(0, samples);
  const model = await OnnxClassifier.create(loadModel(DEMO), { threads: 1, batchSize: 128 });
  const run = async (executor: ShardExecutor, batchSize: number) => {
    const started = performance.now();
    const curve = await runCurve(pgd, model, x, labels, { epsilons: [0.3], params: { ...pgd.defaults, eps: 0.3, batchSize }, seed: 0, executor });
    return { seconds: (performance.now() - started) / 1000, robust: curve.runs[0].metrics.robust_accuracy };
  };
  const lines = [`campaigns: PGD-40 ε=0.3 on ${samples} MNIST digits, bundled CNN, 1 ONNX Runtime thread per process`];
  const local = await run(localExecutor, 128);
  lines.push(`  in this process         ${local.seconds.toFixed(1).padStart(6)} s  robust accuracy ${(local.robust * 100).toFixed(1)}%`);
  const onWorkers = async (count: number, batchSize: number) => {
    const prefix = `bench-${process.pid}-${count}-${batchSize}-${Date.now().toString(36)}`;
    const workers = await Promise.all(Array.from({ length: count }, () => startWorker(prefix)));
    const campaign = await openCampaign({ url: REDIS, prefix, modelBytes: encodeModel(loadModel(DEMO)), batchSize: 128 });
    // The executor's own wall time: from the jobs' submission to the last result, without the metrics after it.
    let queued = 0;
    const timed: ShardExecutor = async (m, r, c) => {
      const started = performance.now();
      const outputs = await campaign.executor(m, r, c);
      queued += (performance.now() - started) / 1000;
      return outputs;
    };
    try {
      const result = await run(timed, batchSize);
      const stats = campaign.stats();
      const attack = stats.attackSeconds / stats.completed;
      // What a job costs beyond its attack once the worker has the model: the wall time of the jobs, less the
      // one-time loads, spread over the jobs each worker ran in turn.
      const overhead = ((queued - stats.loadSeconds / count) * count) / stats.completed - attack;
      return { ...result, stats, attack, overhead, load: stats.loadSeconds / count };
    } finally {
      await campaign.close();
      for (const w of workers) w.kill("SIGTERM");
      await cleanUp(prefix);
    }
  };
  let one = 0;
  let overhead = 0;
  let jobSeconds = 0;
  let load = 0;
  for (const count of [1, 2, 3]) {
    const r = await onWorkers(count, 128);
    log(`campaigns: ${count} worker(s) done in ${r.seconds.toFixed(1)} s`);
    if (count === 1) ({ seconds: one, attack: jobSeconds, overhead, load } = r);
    const same = r.robust === local.robust ? "same numbers as in this process" : "NUMBERS DIFFER";
    lines.push(
      `  ${count} worker${count > 1 ? "s" : " "}               ${r.seconds.toFixed(1).padStart(6)} s  speed-up ${(one / r.seconds).toFixed(2)}× over 1 worker, ${(local.seconds / r.seconds).toFixed(2)}× over this process; ${same}`,
    );
  }
  lines.push(
    `  per job (128 samples): ${jobSeconds.toFixed(2)} s of attack, ${(overhead * 1000).toFixed(0)} ms of overhead (${((100 * overhead) / jobSeconds).toFixed(1)}% of job time); once per worker: ${load.toFixed(2)} s to fetch and load the model and samples`,
  );
  // A 10,000-image audit at three ε: 237 jobs; n workers take ⌈J/n⌉ rounds of (job + overhead) after loading once.
  const jobs = Math.ceil(10_000 / 128) * 3;
  const projected = (n: number) => (load + jobs * (jobSeconds + overhead)) / (load + Math.ceil(jobs / n) * (jobSeconds + overhead));
  lines.push(
    `  projected for 10,000 images × 3 ε (${jobs} jobs), a core per worker: ${[10, 100].map((n) => `${n} workers ${projected(n).toFixed(1)}×`).join(", ")} (ideal ${[10, 100].map((n) => Math.min(n, jobs)).join(", ")}×: a last round with idle workers, and the overhead, take the rest)`,
  );
  for (const batchSize of [32, 64]) {
    const r = await onWorkers(1, batchSize);
    lines.push(
      `  shards of ${batchSize}: ${r.attack.toFixed(2)} s of attack, ${(r.overhead * 1000).toFixed(0)} ms of overhead per job (${((100 * r.overhead) / r.attack).toFixed(1)}%)`,
    );
  }
  await model.release();
  return lines;
}

function startWorker(prefix: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, "worker", "--queue", REDIS, "--prefix", prefix, "--threads", "1"]);
  return new Promise((resolve, reject) => {
    let log = "";
    child.stderr.on("data", (d) => {
      log += d;
      if (/takes jobs from/.test(log)) resolve(child);
    });
    child.on("close", (code) => reject(new Error(`aegis worker exited (${code}): ${log}`)));
  });
}

async function cleanUp(prefix: string): Promise<void> {
  const redis = new Redis(REDIS);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchCampaigns((l) => console.error(l))) console.log(line);
