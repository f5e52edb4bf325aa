/**
 * Detection to response, end to end: PRADA on a guarded route flags an extraction
 * stream, the rule blocks the client, a Slack-style webhook hears of it, a benign client
 * is untouched, and `aegis incidents resolve` lifts the block on the running guard.
 * Throttle, degrade and alert rules are checked on the responder directly.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { FastifyRequest } from "fastify";
import { jacobianAugmentationStream, uniformNoiseStream } from "../../bench/extraction-streams.js";
import { loadMnist } from "../../src/data/mnist.js";
import { createRng } from "../../src/data/random.js";
import { fitKnnOod, inputFeatures, layerFeatures } from "../../src/defenses/detectors/knn-ood.js";
import { saveDetector } from "../../src/defenses/detectors/persistence.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { createFeatureExtractor } from "../../src/engine/features.js";
import { probabilitiesOf } from "../../src/engine/probabilities.js";
import { createApiKey } from "../../src/gateway/auth/api-keys.js";
import { degradeHook } from "../../src/gateway/detection.js";
import { type RunningGuard, startGuard } from "../../src/gateway/guard.js";
import { IncidentResponder } from "../../src/gateway/incidents/responder.js";
import { IncidentStore } from "../../src/gateway/incidents/store.js";
import { loadModel } from "../../src/onnx/io.js";
import { float32, sliceRows } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";
import { promtoolProblems } from "../helpers/promtool.js";

const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "aegis-incidents-"));
const db = join(dir, "audit.db");
const alerts: { text: string }[] = [];
let webhook: Server;
let guard: RunningGuard;
let attackerKey: string;
let benignKey: string;
let adminKey: string;

before(async () => {
  webhook = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      alerts.push(JSON.parse(body));
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
  const keys = join(dir, "keys.json");
  attackerKey = createApiKey(keys, { name: "attacker", roles: ["predict"] }).key;
  benignKey = createApiKey(keys, { name: "benign", roles: ["predict"] }).key;
  adminKey = createApiKey(keys, { name: "ops", roles: ["admin"] }).key;
  writeFileSync(
    join(dir, "guard.yaml"),
    `server: { port: 0 }
auth: { apiKeys: keys.json }
auditLog: { path: audit.db }
incidents:
  webhook: http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook
  rules:
    - { detector: prada, action: block, durationSeconds: 3600 }
routes:
  - name: digits
    model: ${modelPath}
    roles: [predict]
    detectors:
      prada: { delta: 0.95 }
`,
  );
  guard = await startGuard(join(dir, "guard.yaml"));
});

after(async () => {
  await guard.close();
  webhook.close();
});

async function send(key: string, rows: readonly Float32Array[]) {
  const res = await fetch(`${guard.url}/v1/models/digits:predict`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ instances: rows.map((r) => Array.from(r)) }),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
}

test("PRADA flags a Jacobian-augmentation extraction stream, the client is blocked and the webhook told; a benign client is not", async () => {
  const mnist = loadMnist();
  const model = await OnnxClassifier.fromFile(modelPath);
  const seeds = Array.from({ length: 20 }, (_, i) => mnist.train.x.data.slice(i * 784, (i + 1) * 784));
  const stream = await jacobianAugmentationStream(model, seeds, 1000);
  await model.release();

  let blockedAfter = -1;
  for (let sent = 0; sent < stream.length; sent += 10) {
    const r = await send(attackerKey, stream.slice(sent, sent + 10));
    if (r.status === 403) {
      assert.equal(r.body.error?.code, "BLOCKED");
      assert.match(r.body.error?.message ?? "", /blocked until .* \(incident 1\)/);
      blockedAfter = sent;
      break;
    }
    assert.equal(r.status, 200);
  }
  assert.ok(blockedAfter > 0 && blockedAfter <= 1000, `blocked after ${blockedAfter} queries`);

  const benign = Array.from({ length: 400 }, (_, i) => mnist.test.x.data.slice(i * 784, (i + 1) * 784));
  for (let sent = 0; sent < benign.length; sent += 20) assert.equal((await send(benignKey, benign.slice(sent, sent + 20))).status, 200);

  assert.equal(alerts.length, 1);
  assert.match(alerts[0].text, /Aegis incident #1: prada flagged key:[0-9a-f]{12} on digits; action block until/);
  const metrics = await (await fetch(`${guard.url}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } })).text();
  assert.match(metrics, /aegis_blocked_clients 1/);
  assert.match(metrics, /aegis_decisions_total\{route="digits",control="incident",action="block",reason="prada"\} [1-9]/);
  assert.match(metrics, /aegis_incidents_total\{detector="prada",action="block"\} 1\n/);
  assert.equal(await promtoolProblems(metrics), "");
});

test("aegis incidents list/show/resolve; resolving lifts the block on the running guard", async () => {
  const listed = await aegis(["incidents", "list", "--db", db, "--json"]);
  assert.equal(listed.code, 0, listed.stderr);
  const [incident] = JSON.parse(listed.stdout);
  assert.equal(incident.detector, "prada");
  assert.equal(incident.status, "open");
  const shown = await aegis(["incidents", "show", "1", "--db", db]);
  assert.match(shown.stdout, /opened: prada on digits: Shapiro–Wilk W 0\.\d+ < δ 0\.95/);
  assert.match(shown.stdout, /action: block/);
  assert.match(shown.stdout, /alert sent/);
  assert.equal((await send(attackerKey, [new Float32Array(784)])).status, 403);
  assert.equal((await aegis(["incidents", "resolve", "1", "--db", db, "--by", "tester"])).code, 0);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal((await send(attackerKey, [new Float32Array(784)])).status, 200);
  const after = JSON.parse((await aegis(["incidents", "show", "1", "--db", db, "--json"])).stdout);
  assert.equal(after.status, "resolved");
  assert.equal(after.timeline.at(-1).detail, "resolved by tester");
});

test("incident numbers an operator mistypes: a huge number is refused as a bad option, a missing one is not found (CLI exit 2 and 3; dashboard 400 and 404)", async () => {
  const huge = await aegis(["incidents", "resolve", "999999999999999999999", "--db", db]);
  assert.equal(huge.code, 2, huge.stderr);
  assert.match(huge.stderr, /"999999999999999999999" is not an incident number/);
  assert.doesNotMatch(huge.stderr, /e\+21|FILE_NOT_FOUND/);
  for (const command of ["resolve", "show"]) {
    const missing = await aegis(["incidents", command, "4242", "--db", db]);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /there is no incident #4242/);
  }
  const resolve = (id: string) => fetch(`${guard.url}/admin/api/incidents/${id}/resolve`, { method: "POST", headers: { authorization: `Bearer ${adminKey}` } });
  const bad = await resolve("999999999999999999999");
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, "BAD_OPTION");
  const absent = await resolve("4242");
  assert.equal(absent.status, 404);
  assert.match(((await absent.json()) as { error: { message: string } }).error.message, /there is no incident #4242/);
});

test("the OOD-rate test (k-NN OOD flags, per-client CUSUM) degrades a noise-querying client to shuffled top-3 within 10 queries, on a model route and an upstream route; benign digits pass", async () => {
  // A second guard: its own route, detector file and rule.
  const oodDir = mkdtempSync(join(tmpdir(), "aegis-ood-"));
  const mnist = loadMnist();
  const extractor = await createFeatureExtractor(loadModel(modelPath));
  const detector = await fitKnnOod(layerFeatures(extractor), sliceRows(mnist.train.x, 0, 2000), { calibration: sliceRows(mnist.train.x, 2000, 3000) });
  saveDetector(join(oodDir, "ood.json"), detector, modelPath, { data: "mnist train 0–2,999", samples: 3000 });
  await extractor.release();
  // An upstream's model is not in the guard: its route takes a detector of the raw input.
  const inputDetector = await fitKnnOod(inputFeatures, sliceRows(mnist.train.x, 0, 2000), { calibration: sliceRows(mnist.train.x, 2000, 3000) });
  saveDetector(join(oodDir, "ood-input.json"), inputDetector, modelPath, { data: "mnist train 0–2,999", samples: 3000 });
  const upstreamAnswer = [0.5, 0.2, 0.1, 0.05, 0.05, 0.04, 0.03, 0.02, 0.005, 0.005];
  const upstream = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.setHeader("content-type", "application/json").end(JSON.stringify({ predictions: [upstreamAnswer] })));
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const keys = join(oodDir, "keys.json");
  const scraper = createApiKey(keys, { name: "scraper", roles: ["predict"] }).key;
  const remoteScraper = createApiKey(keys, { name: "remote-scraper", roles: ["predict"] }).key;
  const user = createApiKey(keys, { name: "user", roles: ["predict"] }).key;
  writeFileSync(
    join(oodDir, "guard.yaml"),
    `server: { port: 0 }
auth: { apiKeys: keys.json }
auditLog: { path: audit.db }
incidents:
  rules:
    - { detector: ood-rate, action: degrade, degradeTo: shuffled-top-k, k: 3 }
routes:
  - name: digits
    model: ${modelPath}
    roles: [predict]
    detectors:
      ood: { file: ood.json }
  - name: remote
    upstream: http://127.0.0.1:${(upstream.address() as AddressInfo).port}
    inputShape: [1, 28, 28]
    roles: [predict]
    detectors:
      ood: { file: ood-input.json }
`,
  );
  const oodGuard = await startGuard(join(oodDir, "guard.yaml"));
  try {
    const predict = async (key: string, row: Float32Array, route = "digits") => {
      const res = await fetch(`${oodGuard.url}/v1/models/${route}:predict`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ instances: [Array.from(row)] }),
      });
      assert.equal(res.status, 200);
      return ((await res.json()) as { predictions: number[][] }).predictions[0];
    };
    const model = await OnnxClassifier.fromFile(modelPath);
    const own = async (row: Float32Array) => Array.from(probabilitiesOf(model, await model.predict(float32([1, 1, 28, 28], row))).data);
    const sameAsModel = (answer: number[], expected: number[]) => answer.every((v, j) => Math.abs(v - expected[j]) < 1e-5);
    // One query per request; p0 = 0.01 from the file, so ⌈ln 10⁹ / ln 80⌉ = 5 flagged queries alarm.
    let degradedAt = 0;
    const noise = uniformNoiseStream(30, createRng(5));
    for (let i = 0; i < noise.length && degradedAt === 0; i++) {
      const answer = await predict(scraper, noise[i]);
      if (sameAsModel(answer, await own(noise[i]))) continue;
      degradedAt = i + 1;
      assert.equal(answer.filter((v) => v > 0).length, 3, "shuffled top-3: three classes keep a score");
    }
    assert.ok(degradedAt >= 5 && degradedAt <= 10, `degraded after ${degradedAt} queries`);
    for (let i = 0; i < 200; i++) {
      const digit = mnist.test.x.data.slice(i * 784, (i + 1) * 784);
      assert.ok(sameAsModel(await predict(user, digit), await own(digit)), `benign digit ${i} answered as the model does`);
    }
    await model.release();

    let remoteDegradedAt = 0;
    for (let i = 0; i < noise.length && remoteDegradedAt === 0; i++) {
      const answer = await predict(remoteScraper, noise[i], "remote");
      if (!sameAsModel(answer, upstreamAnswer)) remoteDegradedAt = i + 1;
    }
    assert.ok(remoteDegradedAt >= 5 && remoteDegradedAt <= 10, `upstream route degraded after ${remoteDegradedAt} queries`);
    for (let i = 0; i < 50; i++) assert.ok(sameAsModel(await predict(user, mnist.test.x.data.slice(i * 784, (i + 1) * 784), "remote"), upstreamAnswer));
    // A detector of the model's own layers cannot watch an upstream route.
    const wrong = join(oodDir, "wrong.yaml");
    writeFileSync(wrong, readFileSync(join(oodDir, "guard.yaml"), "utf8").replace("ood: { file: ood-input.json }", "ood: { file: ood.json }"));
    await assert.rejects(startGuard(wrong), /ood\.json reads the model's own layers \(knn-ood\), so it needs the model file; .* --layer input/);
  } finally {
    upstream.close();
    await oodGuard.close();
  }
});

test("the responder: throttle and degrade last their duration, alert only records, repeats join the open incident", async () => {
  const store = new IncidentStore(join(dir, "responder.db"));
  let now = Date.parse("2026-01-01T00:00:00Z");
  const responder = new IncidentResponder(
    store,
    [
      { detector: "prada", action: "degrade", durationSeconds: 60 },
      { detector: "stateful-knn", action: "throttle", durationSeconds: 30 },
    ],
    { now: () => now },
  );
  await responder.detect({ client: "key:a", route: "r", detector: "prada", detail: "W 0.8" });
  await responder.detect({ client: "key:a", route: "r", detector: "prada", detail: "W 0.7" });
  await responder.detect({ client: "key:b", route: "r", detector: "stateful-knn", detail: "d 1.0" });
  assert.equal(store.list().length, 2);
  // A third alarm within the minute is not written again: a flagged client alarms on every request.
  await responder.detect({ client: "key:a", route: "r", detector: "prada", detail: "W 0.6" });
  assert.deepEqual(
    store.get(1)?.timeline.map((e) => e.event),
    ["opened", "action: degrade", "detected again"],
  );
  assert.ok(responder.status("key:a").degraded);
  assert.ok(responder.status("key:b").throttled);
  assert.deepEqual(responder.status("key:c"), {});

  const request = { aegis: { decisions: [], principal: { id: "key:a", name: "a", roles: [] } }, ip: "127.0.0.1" } as unknown as FastifyRequest;
  const probs = float32([2, 3], [0.2, 0.5, 0.3, 0.6, 0.3, 0.1]);
  const degraded = await degradeHook(responder, [])(request, float32([2, 1]), probs);
  assert.deepEqual(Array.from(degraded?.data ?? []), [0, 1, 0, 1, 0, 0]);
  // Shuffled top-2: a random() of 0 swaps the two largest values.
  const shuffleRule = { detector: "prada", action: "degrade" as const, degradeTo: { output: "shuffled-top-k" as const, k: 2 } };
  const shuffled = await degradeHook(responder, [shuffleRule], () => 0)(request, float32([2, 1]), probs);
  assert.deepEqual(
    Array.from(shuffled?.data ?? []).map((v) => Math.round(v * 10) / 10),
    [0, 0.3, 0.5, 0.3, 0.6, 0],
  );
  // With Math.random, each of the top 3 classes gets the largest value about a third of the time.
  const wins = [0, 0, 0, 0];
  const four = float32([1, 4], [0.1, 0.6, 0.25, 0.05]);
  const shuffle3 = degradeHook(responder, [{ ...shuffleRule, degradeTo: { output: "shuffled-top-k", k: 3 } }]);
  for (let t = 0; t < 3000; t++) {
    const out = (await shuffle3(request, float32([1, 1]), four))?.data ?? new Float32Array(4);
    assert.equal(out[3], 0, "the fourth class stays out");
    wins[out.indexOf(Math.max(...out))]++;
  }
  // 3000 draws at p = 1/3: σ ≈ 26, so ±130 is 5σ.
  for (const w of wins.slice(0, 3)) assert.ok(Math.abs(w - 1000) < 130, wins.join(","));

  now += 45_000;
  assert.equal(responder.status("key:b").throttled, undefined, "the throttle ended after 30 s");
  assert.ok(responder.status("key:a").degraded);
  await responder.detect({ client: "key:a", route: "r", detector: "prada", detail: "W 0.6" });
  assert.equal(store.get(1)?.timeline.length, 3, "still within the minute of the last note");
  now += 20_000;
  assert.equal(responder.status("key:a").degraded, undefined, "the degrade ended after 60 s");
  await responder.detect({ client: "key:a", route: "r", detector: "prada", detail: "W 0.5" });
  assert.equal(store.get(1)?.timeline.at(-1)?.event, "detected again", "a minute on, the repeat is noted");
  assert.ok(responder.status("key:a").degraded, "and the degrade applies again");

  const alertOnly = new IncidentResponder(store, [], { now: () => now });
  const incident = await alertOnly.detect({ client: "key:d", route: "r", detector: "prada", detail: "W 0.5" });
  assert.equal(incident.action, "alert");
  assert.deepEqual(alertOnly.status("key:d"), {});
  store.close();
});
