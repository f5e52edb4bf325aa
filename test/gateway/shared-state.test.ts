/**
 * Two guard instances on one Redis and one PostgreSQL (started by .ci/run; see the
 * README's Development section): rate limits are global, a key blocked on one instance is
 * blocked on the other, an incident resolved on one is lifted on both, the detectors see a
 * client that alternates between instances as one query stream, and the audit log is one
 * valid hash chain holding every request of both.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { jacobianAugmentationStream } from "../../bench/extraction-streams.js";
import { loadMnist } from "../../src/data/mnist.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { createApiKey } from "../../src/gateway/auth/api-keys.js";
import { type RunningGuard, startGuard } from "../../src/gateway/guard.js";
import type { Incident } from "../../src/gateway/incidents/store.js";
import { connectPostgres, PgAuditLog } from "../../src/gateway/store/postgres.js";
import { aegis } from "../helpers/cli.js";

const REDIS = process.env.AEGIS_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const POSTGRES = process.env.AEGIS_TEST_POSTGRES_URL ?? "postgres://aegis:aegis@127.0.0.1:5432/aegis";
const database = `aegis_test_${process.pid}`;
const databaseUrl = POSTGRES.replace(/\/[^/]*$/, `/${database}`);
const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
const image = Array.from(loadMnist().test.x.data.subarray(0, 784));
let a: RunningGuard;
let b: RunningGuard;
let key: string;
let attacker: string;
let spreader: string;
let admin: string;
let sent = 0;

before(async () => {
  const admin_ = new pg.Client({ connectionString: POSTGRES });
  await admin_.connect();
  await admin_.query(`CREATE DATABASE ${database}`);
  await admin_.end();
  const dir = mkdtempSync(join(tmpdir(), "aegis-shared-"));
  key = createApiKey(join(dir, "keys.json"), { name: "app", roles: ["predict"] }).key;
  attacker = createApiKey(join(dir, "keys.json"), { name: "scraper", roles: ["predict"] }).key;
  spreader = createApiKey(join(dir, "keys.json"), { name: "spreader", roles: ["predict"] }).key;
  admin = createApiKey(join(dir, "keys.json"), { name: "ops", roles: ["admin"] }).key;
  const config = (name: string) => `server: { port: 0 }
auth: { apiKeys: keys.json }
rateLimit:
  perKey: { requestsPerMinute: 20 }
store:
  redis: ${REDIS}
  postgres: ${databaseUrl}
incidents:
  rules: [{ detector: prada, action: block, durationSeconds: 3600 }]
routes:
  - name: digits
    model: ${modelPath}
    detectors: { prada: {} }
# instance ${name}
`;
  writeFileSync(join(dir, "a.yaml"), config("a"));
  writeFileSync(join(dir, "b.yaml"), config("b"));
  [a, b] = await Promise.all([startGuard(join(dir, "a.yaml")), startGuard(join(dir, "b.yaml"))]);
});

after(async () => {
  await Promise.all([a?.close(), b?.close()]);
  const admin_ = new pg.Client({ connectionString: POSTGRES });
  await admin_.connect();
  await admin_.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin_.end();
});

async function predict(guard: RunningGuard, k: string, rows: unknown[] = [image]) {
  sent++;
  const res = await fetch(`${guard.url}/v1/models/digits:predict`, {
    method: "POST",
    headers: { authorization: `Bearer ${k}`, "content-type": "application/json" },
    body: JSON.stringify({ instances: rows }),
  });
  await res.arrayBuffer();
  return res.status;
}

test("the per-key rate limit is one budget across both instances", async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push(await predict(a, key), await predict(b, key));
  assert.equal(statuses.filter((s) => s === 200).length, 20, statuses.join(","));
  assert.equal(statuses.filter((s) => s === 429).length, 4);
});

test("a client blocked by one instance is blocked by the other; resolving on one lifts it on both", async () => {
  const model = await OnnxClassifier.fromFile(modelPath);
  const seeds = Array.from({ length: 20 }, (_, i) => loadMnist().train.x.data.slice(i * 784, (i + 1) * 784));
  const stream = await jacobianAugmentationStream(model, seeds, 1000);
  await model.release();
  let blocked = false;
  const statuses: number[] = [];
  for (let i = 0; i < stream.length && !blocked; i += 10) {
    statuses.push(
      await predict(
        a,
        attacker,
        stream.slice(i, i + 10).map((r) => Array.from(r)),
      ),
    );
    blocked = statuses.at(-1) === 403;
  }
  assert.ok(blocked, `instance a blocked the scraper (${JSON.stringify(statuses)})`);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal(await predict(b, attacker), 403, "instance b blocks it too");

  const res = await fetch(`${b.url}/admin/api/incidents/1/resolve`, { method: "POST", headers: { authorization: `Bearer ${admin}` } });
  assert.equal(res.status, 200);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal(await predict(a, attacker), 200, "instance a lifted the block");
});

test("PRADA sees a client that alternates between the instances as one stream (shared through Redis)", async () => {
  const model = await OnnxClassifier.fromFile(modelPath);
  const seeds = Array.from({ length: 20 }, (_, i) => loadMnist().train.x.data.slice((100 + i) * 784, (101 + i) * 784));
  const stream = await jacobianAugmentationStream(model, seeds, 1000);
  await model.release();
  // 10 queries a request, alternating: each instance alone would see half the stream, and
  // with minQueries 100 and 20 requests a minute it would not reach its verdict in budget.
  let blockedAfter = 0;
  for (let i = 0, turn = 0; i < stream.length && blockedAfter === 0; i += 10, turn++) {
    const status = await predict(
      turn % 2 === 0 ? a : b,
      spreader,
      stream.slice(i, i + 10).map((r) => Array.from(r)),
    );
    if (status === 403) blockedAfter = i;
    else assert.equal(status, 200);
  }
  assert.ok(blockedAfter > 0, "the spreader was blocked");
  const res = await fetch(`${a.url}/admin/api/overview`, { headers: { authorization: `Bearer ${admin}` } });
  // The newest incident (the scraper's query after its resolution re-opened one of its own).
  const incident = ((await res.json()) as { incidents: Incident[] }).incidents.sort((x, y) => y.id - x.id)[0];
  assert.ok(incident, "an open incident");
  const detail = incident.timeline[0].detail ?? "";
  const counted = Number(/after (\d+) queries/.exec(detail)?.[1]);
  // The alarm counted the queries sent to both instances, not just its own half.
  assert.ok(counted > 100 && counted <= blockedAfter, detail);
  const resolved = await fetch(`${a.url}/admin/api/incidents/${incident.id}/resolve`, { method: "POST", headers: { authorization: `Bearer ${admin}` } });
  assert.equal(resolved.status, 200);
});

test("the audit log in PostgreSQL is one valid chain with every request of both instances", async () => {
  const pool = await connectPostgres(databaseUrl);
  const log = new PgAuditLog(pool);
  const verdict = await log.verify();
  await pool.end();
  assert.ok(verdict.valid, JSON.stringify(verdict.breaks));
  // The dashboard's calls (two resolves, one overview) are audited too.
  assert.equal(verdict.entries, sent + 3);
});

test("aegis audit-log verify and aegis incidents read the PostgreSQL store", async () => {
  const verified = await aegis(["audit-log", "verify", "--db", databaseUrl, "--json"]);
  assert.equal(verified.code, 0, verified.stderr);
  assert.equal(JSON.parse(verified.stdout).valid, true);
  const listed = await aegis(["incidents", "list", "--db", databaseUrl, "--json"]);
  assert.equal(listed.code, 0, listed.stderr);
  const [incident] = JSON.parse(listed.stdout);
  assert.equal(incident.status, "resolved");
  assert.match(incident.timeline.at(-1).detail, /resolved by ops on the dashboard/);
});
