/**
 * The guard end to end on real sockets: API keys and JWTs, roles, rate limits, validation,
 * a local ONNX route and a proxied upstream (errors, timeouts, circuit breaker), the
 * hash-chained audit log (tampering found, nothing lost on kill -9), metrics, and reloads
 * that drop no request.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import type { FastifyInstance } from "fastify";
import { SignJWT } from "jose";
import { Agent, fetch as undiciFetch } from "undici";
import { pgd } from "../../src/attacks/evasion/pgd.js";
import { loadMnist } from "../../src/data/mnist.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { SqliteAuditLog } from "../../src/gateway/audit-log/sqlite.js";
import { createApiKey, revokeApiKey } from "../../src/gateway/auth/api-keys.js";
import { parseGuardConfig } from "../../src/gateway/config.js";
import { type RunningGuard, startGuard } from "../../src/gateway/guard.js";
import { createServer } from "../../src/gateway/server.js";
import { parseYaml } from "../../src/report/yaml.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";
import { aegis, exited, startAegis } from "../helpers/cli.js";
import { promtoolProblems } from "../helpers/promtool.js";

const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "aegis-guard-"));
const keysFile = join(dir, "keys.json");
const configFile = join(dir, "guard.yaml");
const dbFile = join(dir, "audit.db");
const secret = "a-test-secret-that-is-at-least-32-bytes-long";
const image = Array.from(sliceRows(loadMnist().test.x, 0, 1).data);

let upstream: FastifyInstance;
let upstreamClassifier: OnnxClassifier;
let slow: Server;
let broken: Server;
let guard: RunningGuard;
let predictKey: string;
let adminKey: string;
let doomedKey: string;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function config(extraRoute = ""): string {
  return `
server: { port: 0 }
auth:
  apiKeys: keys.json
  jwt: { secret: "\${GUARD_JWT_SECRET}", audience: aegis-test, issuer: tests }
rateLimit:
  perKey: { requestsPerMinute: 40 }
auditLog: { path: audit.db }
routes:
  - name: digits
    model: ${modelPath}
    roles: [predict]
  - name: remote
    upstream: ${upstreamUrl}
    path: /v1/models/remote:predict
    upstreamPath: /v1/models/mnist-cnn:predict
    inputShape: [1, 28, 28]
    roles: [predict]
  - name: slow
    upstream: ${slowUrl}
    timeoutMs: 300
  - name: broken
    upstream: ${brokenUrl}
${extraRoute}`;
}
let upstreamUrl: string;
let slowUrl: string;
let brokenUrl: string;

before(async () => {
  upstreamClassifier = await OnnxClassifier.fromFile(modelPath);
  upstream = await createServer({ models: [{ name: "mnist-cnn", classifier: upstreamClassifier, maxInstances: 16 }] });
  upstreamUrl = (await upstream.listen({ host: "127.0.0.1", port: 0 })).replace("localhost", "127.0.0.1");
  slow = createHttpServer((_req, res) => setTimeout(() => res.end('{"predictions": [[1]]}'), 2000));
  slowUrl = await listen(slow);
  broken = createHttpServer((_req, res) => {
    res.writeHead(500, { "x-internal-host": "db-7.corp", server: "gunicorn" });
    res.end("Traceback (most recent call last):\n  File \"/srv/app.py\", line 3, in predict\nKeyError: 'secret_column'");
  });
  brokenUrl = await listen(broken);
  predictKey = createApiKey(keysFile, { name: "app", roles: ["predict"], tenant: "acme" }).key;
  adminKey = createApiKey(keysFile, { name: "ops", roles: ["admin", "predict"] }).key;
  doomedKey = createApiKey(keysFile, { name: "leaver", roles: ["predict"] }).key;
  writeFileSync(configFile, config());
  guard = await startGuard(configFile, { env: { GUARD_JWT_SECRET: secret } });
});

after(async () => {
  await guard.close();
  await upstream.close();
  await upstreamClassifier.release();
  slow.closeAllConnections();
  slow.close();
  broken.close();
});

async function call(path: string, options: { key?: string; body?: unknown; method?: string } = {}) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  const res = await fetch(guard.url + path, {
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text.startsWith("{") ? JSON.parse(text) : undefined };
}

const predict = (route: string, key?: string, instances: unknown[] = [image]) => call(`/v1/models/${route}:predict`, { key, body: { instances } });

test("config errors name the file, the line and the key; environment variables fill secrets", () => {
  const parse = (text: string, env = {}) => parseGuardConfig(parseYaml(text, "guard.yaml"), env);
  assert.throws(
    () => parse("auth: { anonymousRoles: [x] }\nroutes:\n  - name: a\n    model: m.onnx\n    timeoutMs: 5\n"),
    /guard\.yaml:5: routes\[0\]\.timeoutMs applies to upstream routes only/,
  );
  assert.throws(
    () => parse("auth: { anonymousRoles: [x] }\nrateLimit:\n  perKey: { requestsPerMinute: -1 }\nroutes: [{ name: a, model: m.onnx }]\n"),
    /guard\.yaml:3: rateLimit\.perKey\.requestsPerMinute must be an integer ≥ 1/,
  );
  assert.throws(() => parse("routes: [{ name: a, model: m.onnx }]\n"), /auth must configure apiKeys, jwt, clientCertRoles or anonymousRoles/);
  assert.throws(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a guard.yaml placeholder, not a template
    () => parse('auth:\n  jwt: { secret: "${NOPE}" }\nroutes: [{ name: a, model: m.onnx }]\n'),
    /guard\.yaml:2: auth\.jwt\.secret uses \$\{NOPE\}, but the environment variable NOPE is not set/,
  );
  assert.throws(() => parse("auth: { anonymousRoles: [x] }\nroutes: [{ name: a, model: m.onnx }]\nlimits: {}\n"), /guard\.yaml:3: limits is not a known key/);
  const rules = (rule: string) => parse(`auth: { anonymousRoles: [x] }\nincidents:\n  rules:\n    - ${rule}\nroutes: [{ name: a, model: m.onnx }]\n`);
  assert.deepEqual(rules("{ detector: prada, action: degrade, degradeTo: shuffled-top-k }").incidents.rules[0].degradeTo, { output: "shuffled-top-k", k: 3 });
  assert.throws(
    () => rules("{ detector: prada, action: block, degradeTo: labels-only }"),
    /guard\.yaml:4: incidents\.rules\[0\]\.degradeTo applies to degrade rules only/,
  );
  assert.throws(() => rules("{ detector: prada, action: degrade, k: 2 }"), /incidents\.rules\[0\]\.k applies to degradeTo: shuffled-top-k only/);
  assert.throws(
    () =>
      parse(
        'auth: { anonymousRoles: [x] }\nroutes:\n  - name: a\n    upstream: "http://10.0.0.5:8501"\n    inputShape: [2]\n    detectors:\n      adversarial: { file: fs.json }\n',
      ),
    /guard\.yaml:7: routes\[0\]\.detectors\.adversarial needs a local model route/,
  );
  assert.throws(
    () => parse("auth: { anonymousRoles: [x] }\nroutes:\n  - name: a\n    model: m.onnx\n    detectors:\n      ood: { file: ood.json, p1: 1.5 }\n"),
    /routes\[0\]\.detectors\.ood\.p1 must be/,
  );
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a guard.yaml placeholder, not a template
  const ok = parse('auth:\n  jwt: { secret: "${S:-fallback-secret}" }\nroutes: [{ name: a, upstream: "http://10.0.0.5:8501" }]\n', {});
  assert.equal(ok.auth.jwt?.secret, "fallback-secret");
  assert.equal(ok.routes[0].kind === "proxy" && ok.routes[0].path, "/v1/models/a:predict");
});

test("authentication and roles: no key, a bad key and a revoked key are 401; a missing role is 403", async () => {
  assert.equal((await predict("digits")).status, 401);
  assert.equal((await predict("digits", `${predictKey.slice(0, -2)}xx`)).status, 401);
  assert.equal((await predict("digits", "aegis_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).status, 401);
  const ok = await predict("digits", predictKey);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.predictions[0].length, 10);
  const metrics = await call("/metrics", { key: predictKey });
  assert.equal(metrics.status, 403);
  assert.match(metrics.json.error.message, /roles admin, metrics/);
  assert.equal((await call("/healthz")).status, 200);
});

test("JWTs: signed with the configured secret, audience and issuer; roles from the claim", async () => {
  const key = new TextEncoder().encode(secret);
  const sign = (claims: Record<string, unknown>, audience = "aegis-test", expires = "5m") =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("svc-1")
      .setIssuer("tests")
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(expires)
      .sign(key);
  assert.equal((await predict("digits", await sign({ roles: ["predict"] }))).status, 200);
  assert.equal((await predict("digits", await sign({ roles: ["viewer"] }))).status, 403);
  assert.equal((await predict("digits", await sign({ roles: ["predict"] }, "someone-else"))).status, 401);
  assert.equal((await predict("digits", await sign({ roles: ["predict"] }, "aegis-test", "-1m"))).status, 401);
  const forged = await new SignJWT({ roles: ["predict"] })
    .setProtectedHeader({ alg: "HS256" })
    .setAudience("aegis-test")
    .setIssuer("tests")
    .sign(new TextEncoder().encode("another-secret-another-secret-another"));
  assert.equal((await predict("digits", forged)).status, 401);
});

test("the proxied route returns the upstream's predictions; validation runs before the upstream", async () => {
  const direct = await predict("digits", adminKey);
  const proxied = await predict("remote", adminKey);
  assert.equal(proxied.status, 200, proxied.text);
  assert.deepEqual(proxied.json.predictions, direct.json.predictions);
  const bad = await predict("remote", adminKey, [image.map((v) => v + 2)]);
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /must be <= 1/);
});

test("upstream failures: 504 on timeout, 502 without the upstream's trace or headers, then the circuit opens (503)", async () => {
  const timedOut = await predict("slow", adminKey);
  assert.equal(timedOut.status, 504);
  assert.equal(timedOut.json.error.code, "UPSTREAM_TIMEOUT");
  const failed = await predict("broken", adminKey);
  assert.equal(failed.status, 502);
  assert.doesNotMatch(failed.text, /Traceback|secret_column|app\.py/);
  assert.equal(failed.headers.get("x-internal-host"), null);
  assert.notEqual(failed.headers.get("server"), "gunicorn");
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await predict("broken", adminKey)).status);
  assert.deepEqual(statuses.slice(-2), [503, 503], statuses.join(","));
});

test("rate limit per key: 429 with Retry-After once the key's budget is spent; other keys unaffected", async () => {
  const key = createApiKey(keysFile, { name: "burst", roles: ["predict"] }).key;
  await guard.reload();
  const statuses: number[] = [];
  for (let i = 0; i < 45; i++) statuses.push((await call("/v1/models/digits", { key })).status);
  assert.equal(statuses.filter((s) => s === 200).length, 40);
  const limited = await call("/v1/models/digits", { key });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  assert.equal((await call("/v1/models/digits", { key: adminKey })).status, 200);
});

test("a reload drops no request, applies new keys and revocations, and serves new routes", async () => {
  revokeApiKey(keysFile, "leaver");
  writeFileSync(configFile, config(`  - name: digits2\n    model: ${modelPath}\n`));
  const inFlight = Array.from({ length: 20 }, () => predict("digits", adminKey));
  await guard.reload();
  const results = await Promise.all([...inFlight, ...Array.from({ length: 10 }, () => predict("digits", adminKey))]);
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200]);
  assert.equal((await predict("digits", doomedKey)).status, 401);
  assert.equal((await predict("digits2", adminKey)).status, 200);
});

test("metrics count requests by route and status, and decisions by route and control", async () => {
  const m = await call("/metrics", { key: adminKey });
  assert.equal(m.status, 200);
  assert.match(m.text, /aegis_requests_total\{route="digits",status="200",client="key:[0-9a-f]{12}"\} \d+/);
  assert.match(m.text, /aegis_decisions_total\{route="digits",control="auth",action="block",reason="unauthenticated"\} \d+/);
  assert.match(m.text, /aegis_decisions_total\{route="\w+",control="rate-limit",action="throttle",reason="per-key"\} [1-9]/);
  assert.match(m.text, /aegis_upstream_duration_seconds_bucket\{le="0.005",route="remote"\}/);
  assert.match(m.text, /^aegis_process_cpu_seconds_total \d/m);
  assert.equal(await promtoolProblems(m.text), "");
});

test("the audit log has one chained entry per request, no secrets, and names altered and deleted entries", async () => {
  const log = new SqliteAuditLog(dbFile, { readonly: true });
  const entries = [...log.entries()];
  const verdict = log.verify();
  log.close();
  assert.ok(verdict.valid, JSON.stringify(verdict.breaks));
  assert.ok(entries.length > 50);
  const all = entries.map((e) => e.data).join("\n");
  for (const k of [predictKey, adminKey, secret]) assert.ok(!all.includes(k.slice(-20)), "no credential in the log");
  const blocked = entries.map((e) => JSON.parse(e.data)).find((d) => d.status === 401);
  assert.deepEqual(blocked.decisions, [{ control: "auth", action: "block", reason: "unauthenticated" }]);
  assert.match(JSON.parse(entries.at(-1)!.data).payloadHash ?? "", /^[0-9a-f]{64}$|^$/);

  const copy = join(dir, "tampered.db");
  writeFileSync(copy, "");
  const db = new Database(dbFile, { readonly: true });
  await db.backup(copy);
  db.close();
  const t = new Database(copy);
  t.prepare("UPDATE audit_log SET data = replace(data, '\"status\":401', '\"status\":200') WHERE seq = ?").run(
    JSON.parse(entries[0].data).status === 401 ? 1 : entries.findIndex((e) => JSON.parse(e.data).status === 401) + 1,
  );
  t.prepare("DELETE FROM audit_log WHERE seq = 10").run();
  t.close();
  const r = await aegis(["audit-log", "verify", "--db", copy]);
  assert.equal(r.code, 12, r.stdout + r.stderr);
  assert.match(r.stdout, /entry \d+: its content does not match its hash \(altered\)/);
  assert.match(r.stdout, /entry 10: entries 10–10 are missing \(deleted\)/);
  const ok = await aegis(["audit-log", "verify", "--db", dbFile, "--json"]);
  assert.equal(ok.code, 0, ok.stderr);
  const exported = await aegis(["audit-log", "export", "--db", dbFile]);
  assert.equal(exported.stdout.trim().split("\n").length, JSON.parse(ok.stdout).entries);
});

test("aegis guard killed with -9 loses no audit entry of an answered request", async () => {
  const killDir = mkdtempSync(join(tmpdir(), "aegis-guard-kill-"));
  const keys = join(killDir, "keys.json");
  const key = createApiKey(keys, { name: "k", roles: ["predict"] }).key;
  writeFileSync(
    join(killDir, "guard.yaml"),
    `server: { port: 0 }\nauth: { apiKeys: keys.json }\nauditLog: { path: audit.db }\nroutes:\n  - name: digits\n    model: ${modelPath}\n`,
  );
  const { child, url } = await startAegis(["guard", "--config", join(killDir, "guard.yaml"), "--log-level", "off"], /listening at (\S+)/);
  let answered = 0;
  const body = JSON.stringify({ instances: [image] });
  for (let i = 0; i < 30; i++) {
    const res = await fetch(`${url}/v1/models/digits:predict`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body,
    });
    if (res.status === 200) answered++;
  }
  child.kill("SIGKILL");
  await exited(child);
  const log = new SqliteAuditLog(join(killDir, "audit.db"), { readonly: true });
  const verdict = log.verify();
  log.close();
  assert.equal(answered, 30);
  assert.equal(verdict.entries, 30);
  assert.ok(verdict.valid);
});

test("aegis keys: the key is printed once, list never shows hashes, revoke marks it", async () => {
  const file = join(dir, "cli-keys.json");
  const created = await aegis(["keys", "create", "--file", file, "--name", "ci", "--roles", "predict,admin", "--json"]);
  assert.equal(created.code, 0, created.stderr);
  const { key, id } = JSON.parse(created.stdout);
  assert.match(key, /^aegis_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  const listed = await aegis(["keys", "list", "--file", file, "--json"]);
  assert.ok(!listed.stdout.includes(key.slice(20)) && !listed.stdout.includes("hash") && !listed.stdout.includes("salt"));
  assert.equal(JSON.parse(listed.stdout)[0].id, id);
  assert.equal((await aegis(["keys", "revoke", "ci", "--file", file])).code, 0);
  assert.ok(JSON.parse((await aegis(["keys", "list", "--file", file, "--json"])).stdout)[0].revokedAt);
});

test("examples/guard.yaml is valid: its model and LLM routes load", async () => {
  const example = fileURLToPath(new URL("../../examples/guard.yaml", import.meta.url));
  const text = readFileSync(example, "utf8")
    .replace("port: 8080", "port: 0")
    .replace("path: aegis-audit.db", `path: ${join(dir, "example-audit.db")}`);
  const copy = join(fileURLToPath(new URL("../../examples/", import.meta.url)), `.guard-test-${process.pid}.yaml`);
  writeFileSync(copy, text);
  try {
    const running = await startGuard(copy);
    assert.deepEqual(
      running.config.routes.map((r) => r.name),
      ["mnist-cnn", "chatbot"],
    );
    assert.equal((await fetch(`${running.url}/v1/models/mnist-cnn:predict`, { method: "POST" })).status, 401);
    await running.close();
  } finally {
    rmSync(copy);
  }
});

test("a model route with pub is served only while its signature verifies; a tampered model is refused at start and on reload", async () => {
  const signedDir = mkdtempSync(join(tmpdir(), "aegis-guard-signed-"));
  const model = join(signedDir, "digits.onnx");
  copyFileSync(modelPath, model);
  const key = join(signedDir, "k.key");
  assert.equal((await aegis(["keygen", "--out", key])).code, 0);
  assert.equal((await aegis(["sign", model, "--key", key])).code, 0);
  createApiKey(join(signedDir, "keys.json"), { name: "x", roles: ["predict"] });
  const yaml = join(signedDir, "guard.yaml");
  writeFileSync(
    yaml,
    `server: { port: 0 }\nauth: { apiKeys: keys.json }\nauditLog: { path: audit.db }\nroutes:\n  - name: digits\n    model: digits.onnx\n    pub: k.key.pub\n`,
  );
  const running = await startGuard(yaml);
  try {
    const bytes = readFileSync(model);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(model, bytes);
    await assert.rejects(running.reload(), /refusing to serve .*digits\.onnx: its signature does not verify .*digits\.onnx/);
    assert.equal((await fetch(`${running.url}/healthz`)).status, 200, "the running configuration stays");
  } finally {
    await running.close();
  }
  await assert.rejects(startGuard(yaml), (e: Error & { code?: string }) => e.code === "INTEGRITY_FAILED");
});

test("a route's output controls (top-k, rounding) apply to every answer", async () => {
  const outDir = mkdtempSync(join(tmpdir(), "aegis-guard-outputs-"));
  const key = createApiKey(join(outDir, "keys.json"), { name: "x", roles: ["predict"] }).key;
  writeFileSync(
    join(outDir, "guard.yaml"),
    `server: { port: 0 }\nauth: { apiKeys: keys.json }\nauditLog: { path: audit.db }\nroutes:\n  - name: digits\n    model: ${modelPath}\n    outputs: "topk:k=2,round:decimals=1"\n`,
  );
  assert.throws(
    () => parseGuardConfig(parseYaml(`auth: { anonymousRoles: [x] }\nroutes:\n  - name: a\n    model: m.onnx\n    outputs: "shuffle:k=2"\n`, "g.yaml")),
    /g\.yaml:5: routes\[0\]\.outputs is not a postprocessor list/,
  );
  const running = await startGuard(join(outDir, "guard.yaml"));
  try {
    const res = await fetch(`${running.url}/v1/models/digits:predict`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ instances: [image] }),
    });
    const { predictions } = (await res.json()) as { predictions: number[][] };
    assert.equal(predictions[0].length, 10);
    assert.ok(predictions[0].filter((v) => v !== 0).length <= 2);
    for (const v of predictions[0]) assert.ok(Math.abs(v * 10 - Math.round(v * 10)) < 1e-5, String(v));
  } finally {
    await running.close();
  }
});

test("an adversarial-input detector on a route refuses PGD examples and passes clean digits", async () => {
  const advDir = mkdtempSync(join(tmpdir(), "aegis-guard-adversarial-"));
  const fitted = await aegis([
    "detect",
    "fit",
    "--model",
    modelPath,
    "--detector",
    "feature-squeezing",
    "--data",
    "mnist",
    "--samples",
    "1000",
    "--out",
    join(advDir, "fs.json"),
  ]);
  assert.equal(fitted.code, 0, fitted.stderr);
  const key = createApiKey(join(advDir, "keys.json"), { name: "x", roles: ["predict"] }).key;
  writeFileSync(
    join(advDir, "guard.yaml"),
    `server: { port: 0 }\nauth: { apiKeys: keys.json }\nauditLog: { path: audit.db }\nroutes:\n  - name: digits\n    model: ${modelPath}\n    detectors:\n      adversarial: { file: fs.json, reject: true }\n`,
  );
  const classifier = await OnnxClassifier.fromFile(modelPath);
  const test_ = loadMnist().test;
  const clean = sliceRows(test_.x, 0, 20);
  const adversarial = await pgd.run(classifier, clean, labelsOf(sliceRows(test_.y, 0, 20)), { ...pgd.defaults, eps: 0.3 }, { rng: createRng(0) });
  await classifier.release();
  const running = await startGuard(join(advDir, "guard.yaml"));
  try {
    const send = async (x: Float32Array) => {
      const res = await fetch(`${running.url}/v1/models/digits:predict`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ instances: [Array.from(x)] }),
      });
      return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
    };
    let cleanPassed = 0;
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      if ((await send(clean.data.slice(i * 784, (i + 1) * 784))).status === 200) cleanPassed++;
      const r = await send(adversarial.x.data.slice(i * 784, (i + 1) * 784));
      if (r.status === 400 && r.body.error?.code === "ADVERSARIAL_INPUT") refused++;
    }
    assert.ok(cleanPassed >= 18, `${cleanPassed}/20 clean digits passed`);
    assert.ok(refused >= 18, `${refused}/20 PGD examples refused`);
  } finally {
    await running.close();
  }
});

test("mutual TLS: a client certificate from the configured CA authenticates with its mapped roles; others are refused in the handshake", async () => {
  const tls = fileURLToPath(new URL("../../fixtures/gateway/tls/", import.meta.url));
  const tlsDir = mkdtempSync(join(tmpdir(), "aegis-guard-mtls-"));
  writeFileSync(
    join(tlsDir, "guard.yaml"),
    `server:
  port: 0
  tls: { cert: ${tls}server.pem, key: ${tls}server.key, clientCa: ${tls}ca.pem }
auth:
  clientCertRoles: { svc-a: [predict] }
auditLog: { path: audit.db }
routes:
  - name: digits
    model: ${modelPath}
    roles: [predict]
`,
  );
  const running = await startGuard(join(tlsDir, "guard.yaml"));
  const ca = readFileSync(`${tls}ca.pem`);
  const client = (name: string) => new Agent({ connect: { ca, cert: readFileSync(`${tls}${name}.pem`), key: readFileSync(`${tls}${name}.key`) } });
  try {
    assert.match(running.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await undiciFetch(`${running.url}/v1/models/digits:predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ instances: [image] }),
      dispatcher: client("client"),
    });
    assert.equal(ok.status, 200);
    await assert.rejects(undiciFetch(`${running.url}/healthz`, { dispatcher: client("rogue-client") }));
    await assert.rejects(undiciFetch(`${running.url}/healthz`, { dispatcher: new Agent({ connect: { ca } }) }));
  } finally {
    await running.close();
  }
  assert.throws(
    () => parseGuardConfig(parseYaml("auth:\n  clientCertRoles: { a: [x] }\nroutes: [{ name: a, model: m.onnx }]\n", "g.yaml")),
    /g\.yaml:2: auth\.clientCertRoles needs server\.tls\.clientCa/,
  );
});
