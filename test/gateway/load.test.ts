/**
 * A bounded load test of `aegis guard` (issue 5): the real CLI in a child process, in front
 * of `aegis serve` with the MNIST CNN, every control on (API keys, per-key, per-IP and
 * per-tenant rate limits, a concurrency cap, input validation, PRADA, an output
 * postprocessor, the SQLite audit log with payload hashes, metrics behind a role), driven by
 * autocannon as fast as it goes with a fixed number of requests — so the assertions are on
 * counts, never on time. After a graceful stop every request has exactly one audit entry and
 * one count in /metrics; after kill -9 in the middle of a burst every request answered 2xx
 * still has its entry (the sequential kill -9 case is in guard.test.ts).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { loadMnist } from "../../src/data/mnist.js";
import { SqliteAuditLog } from "../../src/gateway/audit-log/sqlite.js";
import { createApiKey } from "../../src/gateway/auth/api-keys.js";
import { exited, startAegis } from "../helpers/cli.js";

const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "aegis-load-"));
const LOAD = 3000;
const CONNECTIONS = 32;
const WARM_UP = 8;
const OUTPUTS = "topk:k=3,round:decimals=2";

// Distinct MNIST digits (8,000 train images), so each body's hash names its request.
const digits = loadMnist().train.x;
const bodies = Array.from({ length: digits.shape[0] }, (_, i) => JSON.stringify({ instances: [Array.from(digits.data.subarray(i * 784, (i + 1) * 784))] }));
const bodyHashes = bodies.map((b) => createHash("sha256").update(b).digest("hex"));

const children: ChildProcess[] = [];
let upstreamUrl: string;
let predictKey: string;
let metricsKey: string;

function startGuard(name: string): Promise<{ child: ChildProcess; url: string; audit: string }> {
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    `server: { port: 0 }
auth: { apiKeys: keys.json }
rateLimit:
  perKey: { requestsPerMinute: 1000000 }
  perIp: { requestsPerMinute: 1000000 }
  perTenant: { requestsPerMinute: 1000000 }
  concurrency: ${2 * CONNECTIONS}
auditLog: { path: ${name}-audit.db, payloads: hash }
metrics: { public: false }
routes:
  - name: digits
    upstream: ${upstreamUrl}
    upstreamPath: /v1/models/mnist-cnn:predict
    inputShape: [1, 28, 28]
    roles: [predict]
    detectors: { prada: {} }
    outputs: "${OUTPUTS}"
`,
  );
  return startAegis(["guard", "--config", config, "--log-level", "off"], /listening at (\S+)/).then((g) => {
    children.push(g.child);
    return { ...g, audit: join(dir, `${name}-audit.db`) };
  });
}

/** What autocannon keeps per connection between building a request and reading its answer. */
type DigitContext = { digit: number };

/**
 * Sends up to `amount` predictions over CONNECTIONS keep-alive connections, each with the
 * next digit; returns the index of the digit of every request answered 2xx.
 */
function burst(url: string, amount: number, firstDigit: number, onAnswered?: (answered: number, stop: () => void) => void) {
  let next = firstDigit;
  const answered: number[] = [];
  let stopLoad = () => {};
  const result = new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/v1/models/digits:predict`,
        method: "POST",
        headers: { authorization: `Bearer ${predictKey}`, "content-type": "application/json" },
        connections: CONNECTIONS,
        amount,
        requests: [
          {
            // One request in flight per connection, so the context holds the digit of the request being answered.
            setupRequest: (request, context) => {
              const digit = next++ % bodies.length;
              (context as DigitContext).digit = digit;
              return { ...request, body: bodies[digit] };
            },
            onResponse: (status, _body, context) => {
              if (status >= 200 && status < 300) answered.push((context as DigitContext).digit);
              onAnswered?.(answered.length, stopLoad);
            },
          },
        ],
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    );
    stopLoad = () => instance.stop();
  });
  return { result, answered };
}

interface AuditRecord {
  requestId: string;
  route?: string;
  status: number;
  payloadHash?: string;
  decisions: { control: string; action: string; reason?: string }[];
}

function readAudit(file: string) {
  const log = new SqliteAuditLog(file, { readonly: true });
  const verdict = log.verify();
  const records = [...log.entries()].map((e) => JSON.parse(e.data) as AuditRecord);
  log.close();
  return { verdict, records };
}

/** How often each value occurs. */
function tally(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

before(async () => {
  predictKey = createApiKey(join(dir, "keys.json"), { name: "load", roles: ["predict"], tenant: "acme" }).key;
  metricsKey = createApiKey(join(dir, "keys.json"), { name: "scraper", roles: ["metrics"] }).key;
  const upstream = await startAegis(["serve", "--model", modelPath, "--port", "0", "--log-level", "off"], /serving \S+ at (http:\/\/[^/]+)\//);
  children.push(upstream.child);
  upstreamUrl = upstream.url;
});

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await Promise.all(children.map(exited));
});

test(`${LOAD} requests at full speed with every control on: all 2xx, one audit entry and one metrics count each, after a graceful stop`, async () => {
  const guard = await startGuard("graceful");
  for (let i = 0; i < WARM_UP; i++) {
    const res = await fetch(`${guard.url}/v1/models/digits:predict`, {
      method: "POST",
      headers: { authorization: `Bearer ${predictKey}`, "content-type": "application/json" },
      body: bodies[i],
    });
    const answer = await res.text();
    assert.equal(res.status, 200, answer);
    const { predictions } = JSON.parse(answer) as { predictions: number[][] };
    assert.equal(predictions[0].length, 10);
    assert.ok(predictions[0].filter((p) => p !== 0).length <= 3, "top-3 only");
    for (const p of predictions[0]) assert.ok(Math.abs(p * 100 - Math.round(p * 100)) < 1e-4, `${p} rounded to 2 decimals`);
  }

  const load = burst(guard.url, LOAD, WARM_UP);
  const result = await load.result;
  assert.equal(result["2xx"], LOAD, JSON.stringify(result.statusCodeStats));
  assert.equal(result.non2xx, 0);
  assert.equal(result.errors, 0);
  assert.equal(result.timeouts, 0);
  assert.equal(load.answered.length, LOAD);

  const metrics = await fetch(`${guard.url}/metrics`, { headers: { authorization: `Bearer ${metricsKey}` } });
  assert.equal(metrics.status, 200);
  const text = await metrics.text();
  const counted = [...text.matchAll(/^aegis_requests_total\{route="digits",status="(\d+)",client="key:[0-9a-f]+"\} (\d+)$/gm)];
  assert.deepEqual(
    counted.map((m) => [m[1], Number(m[2])]),
    [["200", WARM_UP + LOAD]],
  );
  const outputDecisions =
    /^aegis_decisions_total\{route="digits",control="output",action="degrade",reason="top-k\(k=3\)\+rounding\(decimals=2\)"\} (\d+)$/m.exec(text);
  assert.equal(Number(outputDecisions?.[1]), WARM_UP + LOAD, "the output postprocessor ran on every answer");
  const refusalsOrAlarms = text
    .split("\n")
    // The guard creates the alarm counters at 0 (for the alert rules); a count above 0 is a decision taken.
    .filter((line) => /^aegis_decisions_total\{route="[^"]*",control="(rate-limit|prada|auth)",action="(throttle|flag|block)".* [1-9]\d*$/.test(line));
  assert.deepEqual(refusalsOrAlarms, [], "no request throttled, flagged or refused");

  guard.child.kill("SIGTERM");
  assert.deepEqual(await exited(guard.child), { code: 0, signal: null });

  const { verdict, records } = readAudit(guard.audit);
  assert.ok(verdict.valid, JSON.stringify(verdict.breaks));
  // Every prediction plus the /metrics scrape, which is audited because it needs a role.
  assert.equal(verdict.entries, WARM_UP + LOAD + 1);
  assert.equal(new Set(records.map((r) => r.requestId)).size, records.length, "one entry per request id");
  const predictions = records.filter((r) => r.route === "digits");
  assert.equal(predictions.length, WARM_UP + LOAD);
  assert.deepEqual([...new Set(predictions.map((r) => r.status))], [200]);
  assert.deepEqual(
    [...new Set(predictions.map((r) => JSON.stringify(r.decisions)))],
    ['[{"control":"auth","action":"allow"},{"control":"output","action":"degrade","reason":"top-k(k=3)+rounding(decimals=2)"}]'],
  );
  // The entries hold the hashes of exactly the bodies sent: none lost, none doubled.
  const sent = [...Array.from({ length: WARM_UP }, (_, i) => i), ...load.answered].map((i) => bodyHashes[i]);
  assert.deepEqual(tally(predictions.map((r) => r.payloadHash ?? "")), tally(sent));
  assert.deepEqual(
    records.filter((r) => r.route !== "digits").map((r) => [r.route, r.status]),
    [["metrics", 200]],
  );
});

test("kill -9 in the middle of a burst: every request answered 2xx has its audit entry and the chain verifies", async () => {
  const guard = await startGuard("killed");
  const killAfter = LOAD / 2;
  let killedAt = 0;
  const load = burst(guard.url, 2 * LOAD, 0, (answered, stopLoad) => {
    if (killedAt > 0 || answered < killAfter) return;
    killedAt = answered;
    guard.child.kill("SIGKILL");
    stopLoad();
  });
  const result = await load.result;
  assert.deepEqual(await exited(guard.child), { code: null, signal: "SIGKILL" });
  assert.ok(killedAt >= killAfter, `the guard was killed after ${killedAt} answers`);
  // Whatever was on the wire when the guard died is an error or a timeout, never a wrong answer.
  assert.equal(result.non2xx, 0, JSON.stringify(result.statusCodeStats));

  const { verdict, records } = readAudit(guard.audit);
  assert.ok(verdict.valid, JSON.stringify(verdict.breaks));
  const logged = tally(records.map((r) => r.payloadHash ?? ""));
  const missing = load.answered.filter((i) => {
    const left = logged.get(bodyHashes[i]) ?? 0;
    logged.set(bodyHashes[i], left - 1);
    return left <= 0;
  });
  assert.deepEqual(missing, [], "answered requests without an audit entry");
  // At most one response per connection was written but not yet read when the guard died.
  assert.ok(
    verdict.entries >= load.answered.length && verdict.entries <= load.answered.length + CONNECTIONS,
    `${verdict.entries} entries, ${load.answered.length} answered`,
  );
});
