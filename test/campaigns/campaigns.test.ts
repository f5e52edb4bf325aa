/**
 * Campaigns on a real Redis (started by .ci/run: scripts/start-test-services.sh) with real
 * `aegis worker` processes: a sharded audit of the bundled CNN writes the report a local
 * run writes, also when a worker is killed with -9 mid-job; a job that always fails ends
 * failed after its tries with its error in the report, and a model the workers cannot
 * load fails its attacks with a clear error instead of hanging. Each test uses its own
 * key prefix and deletes its keys.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { startVulnerableChatbot } from "../../examples/vulnerable-chatbot/server.js";
import { attackByName, type ShadowConfig, trainShadowModels } from "../../src/attacks/index.js";
import type { AuditConfig, AuditReport } from "../../src/audit/index.js";
import { runAudit } from "../../src/audit/index.js";
import { ATTEMPTS, campaignStatus, cancelCampaign, connectionOptions, openCampaign, QUEUE_NAME, sha256, startWorker } from "../../src/campaigns/index.js";
import { loadMnist } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { capabilitiesOf } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { summarizeModel } from "../../src/engine/inspect.js";
import { loadModel } from "../../src/onnx/io.js";
import { decodeModel, encodeModel } from "../../src/onnx/proto.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";
import { openPage } from "../helpers/chromium.js";
import { aegis, exited } from "../helpers/cli.js";

const REDIS = process.env.AEGIS_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const DEMO = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
const BIN = fileURLToPath(new URL("../../bin/aegis.js", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "aegis-campaigns-"));
const prefixes: string[] = [];
const prefix = (name: string) => {
  const p = `test-${name}-${process.pid}-${Date.now().toString(36)}`;
  prefixes.push(p);
  return p;
};
let redis: Redis;
const children: ChildProcess[] = [];

before(async () => {
  redis = new Redis(REDIS, { maxRetriesPerRequest: 1 });
  await redis.ping();
});

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const p of prefixes) {
    const keys = await redis.keys(`${p}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

/** Three ε-runs' worth of shards: FGSM and PGD (random start: the shard seeds matter) at two ε, on 24 samples in shards of 8. */
const AUDIT = ["audit", "--attacks", "fgsm,pgd", "--samples", "24", "--batch-size", "8", "--eps", "0.1,0.3", "--format", "json"];

/** The report without what differs between any two runs: timings and the creation time. */
const untimed = (report: AuditReport): unknown =>
  JSON.parse(JSON.stringify(report, (key, v) => (["seconds", "created", "estimate_seconds", "warmup_seconds"].includes(key) ? undefined : v)));

function numbers(path: string): unknown {
  return untimed(JSON.parse(readFileSync(path, "utf8")));
}

/** `aegis worker` processes on a prefix, once each says it takes jobs; `onLine` sees their stderr. */
async function startWorkers(
  count: number,
  queuePrefix: string,
  extra: string[] = [],
  onLine?: (i: number, line: string, child: ChildProcess) => void,
  env: Record<string, string> = {},
) {
  return Promise.all(
    Array.from({ length: count }, (_, i) => {
      const child = spawn(process.execPath, [BIN, "worker", "--queue", REDIS, "--prefix", queuePrefix, "--threads", "1", ...extra], {
        env: { ...process.env, ...env },
      });
      children.push(child);
      return new Promise<ChildProcess>((resolve, reject) => {
        let log = "";
        child.stderr.on("data", (d) => {
          log += d;
          for (const line of String(d).split("\n")) if (line) onLine?.(i, line, child);
          if (/takes jobs from/.test(log)) resolve(child);
        });
        child.on("close", (code, signal) => reject(new Error(`worker ${i} exited (${code ?? signal}) before it was ready: ${log}`)));
      });
    }),
  );
}

let local: unknown;

test("a sharded audit on three aegis workers writes the report a local run writes", async () => {
  const localRun = await aegis([...AUDIT, "--out", join(tmp, "local")]);
  assert.equal(localRun.code, 0, localRun.stderr);
  local = numbers(join(tmp, "local", "report.json"));
  const p = prefix("three");
  const workers = await startWorkers(3, p);
  const r = await aegis([...AUDIT, "--out", join(tmp, "three"), "--queue", REDIS, "--queue-prefix", p]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(numbers(join(tmp, "three", "report.json")), local);
  // 4 runs (2 attacks × 2 ε) of 3 shards each, every one done once.
  assert.match(r.stderr, /campaign c\w+: 12 of 12 jobs done, 0 failed, 0 stalled and retried/);
  const report: AuditReport = JSON.parse(readFileSync(join(tmp, "three", "report.json"), "utf8"));
  assert.ok(report.attacks[1].runs[1].robust_accuracy < 0.1, `PGD at ε=0.3 breaks the CNN on workers too: ${report.attacks[1].runs[1].robust_accuracy}`);
  for (const w of workers) w.kill("SIGTERM");
  for (const w of workers) assert.equal((await exited(w)).code, 0, "a worker stops cleanly on SIGTERM");
});

test("a worker killed with -9 mid-job: its job goes to another worker, and the report is still the local run's", async () => {
  assert.ok(local, "the local report of the first test");
  const p = prefix("kill");
  let killed: string | null = null;
  const workers = await startWorkers(2, p, ["--stall-seconds", "2"], (i, line, child) => {
    const started = /job (\S+) started/.exec(line);
    if (i === 0 && started && killed === null) {
      killed = started[1];
      child.kill("SIGKILL");
    }
  });
  const r = await aegis([...AUDIT, "--out", join(tmp, "kill"), "--queue", REDIS, "--queue-prefix", p]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(killed, "worker 0 took a job");
  assert.equal((await exited(workers[0])).signal, "SIGKILL");
  assert.match(r.stderr, new RegExp(`job ${killed} stalled`));
  assert.match(r.stderr, /12 of 12 jobs done, 0 failed, 1 stalled and retried/);
  assert.deepEqual(numbers(join(tmp, "kill", "report.json")), local);
  workers[1].kill("SIGTERM");
  await exited(workers[1]);
  const id = /campaign (c\w+) on/.exec(r.stderr)?.[1];
  assert.ok(id, r.stderr);
  const status = await aegis(["campaign", "status", id, "--queue", REDIS, "--prefix", p]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`campaign ${id}: 12 of 12 jobs done, 0 running, 0 waiting, 0 failed; 0 workers connected`));
  const attached = await aegis(["campaign", "attach", id, "--queue", REDIS, "--prefix", p]);
  assert.equal(attached.code, 0, attached.stderr);
  assert.match(attached.stdout, new RegExp(`campaign ${id}: 12 of 12 jobs done`));
});

test("an encrypted model stays encrypted in Redis: a worker with the key runs it, one without fails its jobs saying so", async () => {
  assert.ok(local, "the local report of the first test");
  const keyFile = join(tmp, "model.key");
  const encrypted = join(tmp, "mnist-cnn.onnx.aegis");
  const sealed = await aegis(["encrypt", DEMO, "--key-file", keyFile, "--new-key", "--out", encrypted]);
  assert.equal(sealed.code, 0, sealed.stderr);
  const env = { AEGIS_KEY_FILE: keyFile };
  const p = prefix("sealed");
  const keyed = await startWorkers(1, p, ["--key-file", keyFile]);
  const r = await aegis([...AUDIT, "--model", encrypted, "--out", join(tmp, "sealed"), "--queue", REDIS, "--queue-prefix", p], { env });
  assert.equal(r.code, 0, r.stderr);
  const sealedReport = readFileSync(join(tmp, "sealed", "report.json"), "utf8").replaceAll(encrypted, DEMO);
  assert.deepEqual(untimed(JSON.parse(sealedReport)), local, "the local run's numbers, the model's file aside");
  const stored = /model (\w{12}) stored/.exec(r.stderr)?.[1];
  assert.equal(stored, sha256(readFileSync(encrypted)).slice(0, 12), "the blob is the encrypted file");
  const plaintext = encodeModel(loadModel(DEMO));
  for (const key of await redis.keys(`${p}:blob:*`)) {
    const blob = (await redis.getBuffer(key)) as Buffer;
    assert.equal(blob.indexOf(Buffer.from(plaintext.subarray(64, 128))), -1, `${key} holds none of the model's plaintext`);
  }
  keyed[0].kill("SIGTERM");
  await exited(keyed[0]);

  const q = prefix("keyless");
  const keyless = await startWorkers(1, q, [], undefined, { AEGIS_KEY: "", AEGIS_KEY_FILE: "" });
  const failed = await aegis([...AUDIT, "--attacks", "fgsm", "--model", encrypted, "--out", join(tmp, "keyless"), "--queue", REDIS, "--queue-prefix", q], {
    env,
  });
  const report: AuditReport = JSON.parse(readFileSync(join(tmp, "keyless", "report.json"), "utf8"));
  assert.equal(report.attacks[0].status, "failed");
  assert.match(
    report.attacks[0].reason ?? "",
    /mnist-cnn\.onnx\.aegis is encrypted and the worker \S+ has no key: start it with --key-file/,
    `${failed.stderr}`,
  );
  keyless[0].kill("SIGTERM");
  await exited(keyless[0]);
});

test("shadow models train on aegis workers, byte for byte as in this process, and the queue never holds the target's weights", async () => {
  const { train: split } = loadMnist();
  const pool = { x: sliceRows(split.x, 0, 300), labels: labelsOf(split.y).slice(0, 300) };
  const target = encodeModel(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 9 }));
  const config: ShadowConfig = {
    architecture: { like: target },
    numClasses: 10,
    training: { epochs: 4, batchSize: 32, optimizer: "adam", lr: 1e-3, momentum: 0.9, weightDecay: 0, augment: "none" },
    threads: 1,
  };
  const plan = { models: [0, 1, 2].map((j) => ({ seed: j + 1, rows: Array.from({ length: 100 }, (_, i) => j * 100 + i) })), candidates: 0, online: false };
  const here = await trainShadowModels(config, plan, pool);
  const p = prefix("shadows");
  const seenBy = new Set<number>();
  const workers = await startWorkers(2, p, [], (i, line) => {
    if (/shadow model \d+ on 100 samples/.test(line)) seenBy.add(i);
  });
  const campaign = await openCampaign({ url: REDIS, prefix: p });
  try {
    let epochs = 0;
    const there = await trainShadowModels(config, plan, pool, {
      trainer: campaign.shadowTrainer,
      progress: () => ({
        update: (done) => {
          epochs = done;
        },
        stop() {},
      }),
    });
    assert.equal(there.length, 3);
    for (const [j, bytes] of there.entries()) assert.ok(Buffer.from(bytes).equals(Buffer.from(here[j])), `shadow model ${j} is the one this process trains`);
    assert.equal(epochs, 12, "progress counts each model's epochs");
    assert.deepEqual([campaign.stats().jobs, campaign.stats().completed], [3, 3]);
    // The target's weights stay here: the architecture travels re-initialised.
    const matrix = decodeModel(target).graph.initializers.find((t) => t.dims.length === 2)?.data as Float32Array;
    const weights = Buffer.from(matrix.buffer, matrix.byteOffset, 64);
    for (const key of await redis.keys(`${p}:blob:*`))
      assert.equal(((await redis.getBuffer(key)) as Buffer).indexOf(weights), -1, `${key} holds none of the target's weights`);
  } finally {
    await campaign.close();
    for (const w of workers) w.kill("SIGTERM");
    for (const w of workers) await exited(w);
  }
  assert.equal(seenBy.size, 2, "both workers trained some");
});

test("aegis infer membership --queue trains its shadow models as campaign jobs and writes the report a local run writes", async () => {
  const modelPath = join(tmp, "target-mlp.onnx");
  writeFileSync(modelPath, encodeModel(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 4 })));
  const args = (out: string) => [
    "infer",
    "membership",
    "--model",
    modelPath,
    "--members",
    "mnist:train:0-100",
    "--non-members",
    "mnist:test:0-100",
    "--reference",
    "mnist:train:4000-4400",
    "--attacks",
    "lira-offline",
    "--shadows",
    "2",
    "--shadow-epochs",
    "3",
    "--population",
    "100",
    "--format",
    "json",
    "--out",
    join(tmp, out),
  ];
  const here = await aegis(args("infer-here"));
  assert.equal(here.code, 0, here.stderr);
  const p = prefix("infer");
  const [worker] = await startWorkers(1, p);
  const there = await aegis([...args("infer-there"), "--queue", REDIS, "--queue-prefix", p]);
  worker.kill("SIGTERM");
  await exited(worker);
  assert.equal(there.code, 0, there.stderr);
  assert.match(there.stderr, /campaign c\w+: 2 of 2 jobs done, 0 failed/);
  const result = (dir: string) => JSON.parse(readFileSync(join(tmp, dir, "report.json"), "utf8")).result;
  assert.deepEqual(untimed(result("infer-there")), untimed(result("infer-here")));
  const stray = await aegis([...args("infer-stray"), "--campaign", "x"]);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /--campaign names a campaign on a queue: add --queue/);
});

test("aegis certify --queue certifies ten samples per job on the workers, each with the noise it draws here", async () => {
  const args = ["certify", "--model", DEMO, "--sigma", "0.25", "--n", "300", "--n0", "20", "--samples", "25", "--batch-size", "100", "--seed", "5", "--json"];
  const here = await aegis(args);
  assert.equal(here.code, 0, here.stderr);
  const p = prefix("certify");
  const workers = await startWorkers(2, p);
  const there = await aegis([...args, "--queue", REDIS, "--queue-prefix", p]);
  for (const w of workers) w.kill("SIGTERM");
  for (const w of workers) await exited(w);
  assert.equal(there.code, 0, there.stderr);
  assert.match(there.stderr, /campaign c\w+: 3 of 3 jobs done, 0 failed/);
  const certificates = (out: string) => JSON.parse(out).certificates;
  assert.equal(certificates(there.stdout).length, 25);
  assert.deepEqual(certificates(there.stdout), certificates(here.stdout));
  assert.ok(
    certificates(here.stdout).filter((c: { prediction: number | null; label: number }) => c.prediction === c.label).length >= 20,
    "and they certify the digits",
  );
});

test("aegis scan --queue scans the files in batches on the workers and reports what a local scan reports", async () => {
  const fixtures = fileURLToPath(new URL("../../fixtures/supplychain", import.meta.url));
  const here = await aegis(["scan", fixtures, "--json"]);
  assert.equal(here.code, 11, "the fixtures hold critical findings");
  const p = prefix("scan");
  const workers = await startWorkers(2, p);
  const there = await aegis(["scan", fixtures, "--json", "--queue", REDIS, "--queue-prefix", p]);
  for (const w of workers) w.kill("SIGTERM");
  for (const w of workers) await exited(w);
  assert.equal(there.code, 11, there.stderr);
  const files = (out: string) => JSON.parse(out).files;
  assert.ok(files(here.stdout).length > 60);
  assert.deepEqual(files(there.stdout), files(here.stdout));
  assert.equal(JSON.parse(there.stdout).verdict, "critical");
  // 61 files in batches of 16.
  assert.match(there.stderr, /campaign c\w+: 4 of 4 jobs done, 0 failed/);
});

test("aegis worker --pub runs only models whose signature verifies, checked on the bytes it received", async () => {
  const folder = join(tmp, "signing");
  mkdirSync(folder);
  const model = join(folder, "mnist-cnn.onnx");
  copyFileSync(DEMO, model);
  const unsigned = join(folder, "unsigned.onnx");
  copyFileSync(DEMO, unsigned);
  for (const args of [
    ["keygen", "--out", join(folder, "owner.key")],
    ["keygen", "--out", join(folder, "other.key")],
    ["sign", model, "--key", join(folder, "owner.key")],
  ]) {
    const r = await aegis(args);
    assert.equal(r.code, 0, r.stderr);
  }
  const p = prefix("pub");
  let log = "";
  const [worker] = await startWorkers(1, p, ["--pub", join(folder, "owner.key.pub")], (_, line) => {
    log += `${line}\n`;
  });
  const audit = async (path: string, out: string) => {
    await aegis([
      "audit",
      "--model",
      path,
      "--attacks",
      "fgsm",
      "--eps",
      "0.1",
      "--samples",
      "8",
      "--format",
      "json",
      "--out",
      join(tmp, out),
      "--queue",
      REDIS,
      "--queue-prefix",
      p,
    ]);
    return JSON.parse(readFileSync(join(tmp, out, "report.json"), "utf8")) as AuditReport;
  };
  const signed = await audit(model, "pub-signed");
  assert.equal(signed.attacks[0].status, "done", signed.attacks[0].reason ?? "");
  assert.match(log, /mnist-cnn\.onnx: signature verified under/);
  const refused = await audit(unsigned, "pub-unsigned");
  assert.equal(refused.attacks[0].status, "failed");
  assert.match(refused.attacks[0].reason ?? "", /unsigned\.onnx came without a signature, and the worker \S+ runs only models signed for/);
  // Signed by someone else: the signature does not verify under the worker's key.
  const r = await aegis(["sign", model, "--key", join(folder, "other.key")]);
  assert.equal(r.code, 0, r.stderr);
  const forged = await audit(model, "pub-other");
  assert.equal(forged.attacks[0].status, "failed");
  assert.match(forged.attacks[0].reason ?? "", /mnist-cnn\.onnx is refused by the worker \S+: the signature was not made with the private key of/);
  worker.kill("SIGTERM");
  await exited(worker);
});

test("aegis redteam --queue runs the attempts on the workers, 25 per job, and reports what a local run reports", async () => {
  const bot = await startVulnerableChatbot();
  const p = prefix("redteam");
  const workers = await startWorkers(2, p);
  try {
    const args = (out: string) => [
      "redteam",
      "--target",
      bot.url,
      "--model",
      "vulnerable-bot",
      "--transforms",
      "base64",
      "--out",
      join(tmp, out),
      "--format",
      "json",
    ];
    const here = await aegis(args("redteam-here"));
    assert.equal(here.code, 0, here.stderr);
    const there = await aegis([...args("redteam-there"), "--queue", REDIS, "--queue-prefix", p]);
    assert.equal(there.code, 0, there.stderr);
    const report = (dir: string) => JSON.parse(readFileSync(join(tmp, dir, "report.json"), "utf8"));
    const local = report("redteam-here");
    const queued = report("redteam-there");
    assert.ok(local.summary.attempts > 50, `${local.summary.attempts} attempts`);
    const jobs = Math.ceil(local.summary.attempts / 25);
    assert.match(there.stderr, new RegExp(`campaign c\\w+: ${jobs} of ${jobs} jobs done, 0 failed`));
    assert.deepEqual(queued.summary, local.summary);
    assert.deepEqual(queued.probes, local.probes);
    const refused = await aegis([...args("redteam-header"), "--header", "X-Gateway-Key:secret", "--queue", REDIS, "--queue-prefix", p]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--header may carry a secret, and jobs on a queue carry none/);
  } finally {
    for (const w of workers) w.kill("SIGTERM");
    for (const w of workers) await exited(w);
    await bot.close();
  }
});

test("a red-team worker killed with -9 mid-job: the retry asks the target only the attempts not yet answered", async () => {
  const bot = await startVulnerableChatbot();
  const p = prefix("redteam-kill");
  const args = (out: string) => ["redteam", "--target", bot.url, "--model", "vulnerable-bot", "--out", join(tmp, out), "--format", "json"];
  const workers: ChildProcess[] = [];
  try {
    const here = await aegis(args("redteam-kill-here"));
    assert.equal(here.code, 0, here.stderr);
    const asked = bot.served();
    workers.push(...(await startWorkers(1, p, ["--stall-seconds", "2"])));
    const queued = aegis([...args("redteam-kill-there"), "--queue", REDIS, "--queue-prefix", p]);
    // Kill the only worker once it has had ten answers, then start another to take its job.
    while (bot.served() < asked + 10) await new Promise((resolve) => setTimeout(resolve, 10));
    workers[0].kill("SIGKILL");
    await exited(workers[0]);
    const answeredBeforeKill = bot.served() - asked;
    workers.push(...(await startWorkers(1, p, ["--stall-seconds", "2"])));
    const there = await queued;
    assert.equal(there.code, 0, there.stderr);
    assert.match(there.stderr, /stalled and retried/);
    const report = (dir: string) => JSON.parse(readFileSync(join(tmp, dir, "report.json"), "utf8"));
    assert.deepEqual(report("redteam-kill-there").probes, report("redteam-kill-here").probes);
    // Asked again: only the conversations in flight when the worker died (2 lanes, the first probes' of 1–2 turns), not the ~10 answers it had.
    const askedAgain = bot.served() - 2 * asked;
    assert.ok(askedAgain >= 0 && askedAgain <= 4, `${askedAgain} requests repeated of ${answeredBeforeKill} answered before the kill`);
  } finally {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill("SIGTERM");
    for (const w of workers) await exited(w);
    await bot.close();
  }
});

test("--queue-store keeps a campaign's blobs in a shared directory, not Redis; a worker not given it says so", async () => {
  assert.ok(local, "the local report of the first test");
  const store = join(tmp, "shared-store");
  const p = prefix("store");
  const [worker] = await startWorkers(1, p, ["--store", store]);
  const r = await aegis([...AUDIT, "--out", join(tmp, "store"), "--queue", REDIS, "--queue-prefix", p, "--queue-store", store]);
  worker.kill("SIGTERM");
  await exited(worker);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(numbers(join(tmp, "store", "report.json")), local);
  assert.deepEqual(await redis.keys(`${p}:blob:*`), [], "no blob went to Redis");
  assert.ok(readdirSync(join(store, p)).length >= 14, "the model, the samples and 12 shards' results are files");

  const q = prefix("no-store");
  const [bare] = await startWorkers(1, q);
  await aegis([...AUDIT, "--attacks", "fgsm", "--out", join(tmp, "no-store"), "--queue", REDIS, "--queue-prefix", q, "--queue-store", store]);
  bare.kill("SIGTERM");
  await exited(bare);
  const report: AuditReport = JSON.parse(readFileSync(join(tmp, "no-store", "report.json"), "utf8"));
  assert.equal(report.attacks[0].status, "failed");
  assert.match(report.attacks[0].reason ?? "", /keeps its inputs in a shared directory: start the worker \S+ with --store DIR/);
});

/** An audit in this process whose shards go to the queue on `queuePrefix`. */
async function queuedAudit(queuePrefix: string, config: AuditConfig, options: { id?: string; beforeRun?: () => Promise<void> } = {}) {
  const model = await OnnxClassifier.fromFile(DEMO, { batchSize: config.batchSize });
  const campaign = await openCampaign({
    url: REDIS,
    prefix: queuePrefix,
    id: options.id,
    modelBytes: encodeModel(loadModel(DEMO)),
    batchSize: config.batchSize,
  });
  try {
    const summary = await summarizeModel(loadModel(DEMO));
    const { test: data } = loadMnist();
    await options.beforeRun?.();
    const { report } = await runAudit({
      model,
      capabilities: capabilitiesOf(model, summary.differentiable),
      modelPath: DEMO,
      summary,
      data: { ...data, name: "mnist-test" },
      config,
      executor: campaign.executor,
    });
    return { report, stats: campaign.stats(), campaign: campaign.id };
  } finally {
    await campaign.close();
    await model.release();
  }
}

const smallSuite = (attacks: AuditConfig["attacks"]): AuditConfig => ({ source: "test", seed: 0, samples: 16, batchSize: 8, lenientParams: false, attacks });

test("a job that always fails ends failed after its tries, with its error in the report, and the other attacks run", async () => {
  const p = prefix("poison");
  const fgsm = attackByName("fgsm");
  assert.ok(fgsm);
  const buggy = { ...fgsm, run: async () => Promise.reject(new TypeError("x.data is undefined (a bug in this attack)")) };
  const worker = await startWorker({
    url: REDIS,
    prefix: p,
    threads: 1,
    metricsPort: 0,
    lookup: (name) => (name === "fgsm" ? buggy : attackByName(name)),
  });
  try {
    const { report, stats, campaign } = await queuedAudit(
      p,
      smallSuite([
        { id: "fgsm", attack: "fgsm", kind: "curve", eps: [0.1] },
        { id: "pgd", attack: "pgd", kind: "curve", eps: [0.3], params: { maxIter: 5 } },
      ]),
    );
    const [broken, pgd] = report.attacks;
    assert.equal(broken.status, "failed");
    assert.match(broken.reason ?? "", /failed on the workers: x\.data is undefined \(a bug in this attack\)/);
    assert.equal(pgd.status, "done");
    assert.equal(pgd.runs.length, 1);
    assert.equal(pgd.runs[0].samples, 16);
    assert.deepEqual({ ...stats, attackSeconds: 0, loadSeconds: 0 }, { jobs: 4, completed: 2, failed: 2, stalled: 0, attackSeconds: 0, loadSeconds: 0 });
    assert.ok(stats.attackSeconds > 0, "the PGD shards ran");
    const queue = new Queue(QUEUE_NAME, { connection: connectionOptions(REDIS), prefix: p });
    const failed = await queue.getFailed();
    await queue.close();
    assert.deepEqual(
      failed.map((j) => [j.id?.startsWith(campaign), j.attemptsMade]),
      [
        [true, ATTEMPTS],
        [true, ATTEMPTS],
      ],
    );
    // The worker's Prometheus metrics count every attempt, time the shards and read the queue's depth.
    assert.ok(worker.metricsUrl);
    const metrics = await (await fetch(worker.metricsUrl)).text();
    assert.match(metrics, new RegExp(`aegis_campaign_jobs_total\\{outcome="failed"\\} ${2 * ATTEMPTS}\n`));
    assert.match(metrics, /aegis_campaign_jobs_total\{outcome="completed"\} 2\n/);
    assert.match(metrics, /aegis_campaign_job_seconds_count\{attack="pgd"\} 2\n/);
    assert.match(metrics, /aegis_campaign_queue_jobs\{state="failed"\} 2\n/);
    const attached = await aegis(["campaign", "attach", campaign, "--queue", REDIS, "--prefix", p]);
    assert.equal(attached.code, 13, "attach exits 13 when jobs failed");
    assert.match(attached.stderr, new RegExp(`2 jobs of campaign ${campaign} failed`));
    // The campaigns' page, in a real browser: the campaign's jobs by state, this worker, the failed jobs' errors.
    const home = worker.metricsUrl.replace(/metrics$/, "");
    const { browser, page, fetched, errors } = await openPage(home);
    try {
      const row = await page.$$eval(`#campaigns tr[data-campaign="${campaign}"] td`, (tds) => tds.map((td) => (td.textContent ?? "").trim()));
      assert.deepEqual(row, [campaign, "attack-shard ×4", "2 / 4", "0", "0", "2"]);
      assert.match((await page.textContent("#workers")) ?? "", new RegExp(`${process.pid}`));
      assert.match((await page.textContent("#failures")) ?? "", /x\.data is undefined \(a bug in this attack\)/);
      assert.deepEqual(errors, []);
      assert.deepEqual(
        fetched.filter((url) => !url.startsWith(home)),
        [],
        "the page loads nothing from elsewhere",
      );
    } finally {
      await browser.close();
    }
  } finally {
    await worker.close();
  }
});

test("a model the workers cannot load fails its attacks with a clear error in the report, not a hang", async () => {
  const p = prefix("bad-model");
  const worker = await startWorker({ url: REDIS, prefix: p, threads: 1 });
  try {
    // Once submitted, what the workers read under the model's hash is no longer the model (a tampered or corrupted store).
    const corrupt = async () => void (await redis.set(`${p}:blob:${sha256(encodeModel(loadModel(DEMO)))}`, "not an ONNX model"));
    const { report, stats } = await queuedAudit(p, smallSuite([{ id: "fgsm", attack: "fgsm", kind: "curve", eps: [0.1] }]), { beforeRun: corrupt });
    assert.equal(report.attacks[0].status, "failed");
    assert.match(
      report.attacks[0].reason ?? "",
      /the model [0-9a-f]{12} in the campaign's Redis has SHA-256 [0-9a-f]{12}: it was altered after it was submitted/,
    );
    assert.equal(stats.failed, 2);
  } finally {
    await worker.close();
  }
});

const twoAttacks = smallSuite([
  { id: "fgsm", attack: "fgsm", kind: "curve", eps: [0.1] },
  { id: "pgd", attack: "pgd", kind: "curve", eps: [0.3], params: { maxIter: 5 } },
]);

test("a campaign named again re-attaches: its finished jobs are collected, not run again, with no worker left", async () => {
  const p = prefix("attach");
  const worker = await startWorker({ url: REDIS, prefix: p, threads: 1 });
  const first = await queuedAudit(p, twoAttacks, { id: "attach-1" }).finally(() => worker.close());
  assert.equal(first.stats.completed, 4);
  const again = await queuedAudit(p, twoAttacks, { id: "attach-1" });
  assert.deepEqual(untimed(again.report), untimed(first.report));
  assert.deepEqual(again.stats, first.stats, "the same 4 results, with the workers' timings");
  const status = await campaignStatus({ url: REDIS, prefix: p }, "attach-1");
  assert.deepEqual([status.total, status.jobs.completed, status.workers, status.failures], [4, 4, 0, []]);
});

test("aegis campaign cancel: waiting jobs are removed, the submitter stops with the reason in the report", async () => {
  const p = prefix("cancel");
  const target = { url: REDIS, prefix: p };
  const audit = queuedAudit(p, twoAttacks, { id: "cancel-1" });
  // No worker: FGSM's two jobs wait until cancelled.
  let waiting = 0;
  while (waiting < 2) {
    await new Promise((r) => setTimeout(r, 100));
    waiting = await campaignStatus(target, "cancel-1").then(
      (s) => s.jobs.waiting,
      () => 0,
    );
  }
  assert.deepEqual(await cancelCampaign(target, "cancel-1"), { removed: 2, running: 0 });
  const { report } = await audit;
  assert.deepEqual(
    report.attacks.map((a) => a.status),
    ["failed", "failed"],
  );
  assert.match(report.attacks[0].reason ?? "", /removed from the queue \(aegis campaign cancel\)/);
  assert.match(report.attacks[1].reason ?? "", /campaign cancel-1 was cancelled/);
  assert.equal((await campaignStatus(target, "cancel-1")).cancelled, true);
});

test("--queue with a Redis that does not answer is exit 13 with the URL named", async () => {
  const r = await aegis([...AUDIT, "--out", join(tmp, "down"), "--queue", "redis://127.0.0.1:1"]);
  assert.equal(r.code, 13, r.stderr);
  assert.match(r.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*start it, or check --queue/);
});
