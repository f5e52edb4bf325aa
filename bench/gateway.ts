/**
 * The guard's cost, measured on loopback with autocannon against servers in child
 * processes: (1) `aegis serve` with the MNIST CNN directly vs through `aegis guard` with
 * auth, rate limit, validation, audit log and metrics on (target: ≥ 70% of the direct
 * throughput, ≤ 2 ms added p99); (2) the guard's raw throughput in front of a trivial
 * upstream (a bare fastify + undici proxy reached ~16,700 req/s on 2 cores; the aim is
 * ≥ 10,000 with every control on); (3) no audit entry lost under that load.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { loadMnist } from "../src/data/mnist.js";
import { SqliteAuditLog } from "../src/gateway/audit-log/sqlite.js";
import { createApiKey } from "../src/gateway/auth/api-keys.js";

const bin = fileURLToPath(new URL("../bin/aegis.js", import.meta.url));
const model = fileURLToPath(new URL("../models/mnist-cnn.onnx", import.meta.url));

function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args);
  let err = "";
  return new Promise((resolve, reject) => {
    child.stderr?.on("data", (d) => {
      err += d;
      const m = ready.exec(err);
      if (m) resolve({ child, url: m[1] });
    });
    child.on("close", (code) => reject(new Error(`${args.join(" ")} exited ${code}: ${err}`)));
  });
}

const TRIVIAL = `
const http = require("node:http");
const server = http.createServer((req, res) => { req.resume(); req.on("end", () => { res.setHeader("content-type", "application/json"); res.end('{"predictions":[[0.25,0.75]]}'); }); });
server.listen(0, "127.0.0.1", () => process.stderr.write("trivial at http://127.0.0.1:" + server.address().port + "\\n"));
`;

async function load(url: string, body: string, headers: Record<string, string>, seconds: number) {
  const result = await autocannon({
    url,
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...headers },
    connections: 16,
    duration: seconds,
  });
  return { rps: result.requests.average, p99: result.latency.p99, sent: result.requests.total, non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

export async function benchGateway(seconds = Number(process.env.BENCH_GATEWAY_SECONDS ?? 10)): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "aegis-bench-gateway-"));
  const key = createApiKey(join(dir, "keys.json"), { name: "bench", roles: ["predict"] }).key;
  const auth = { authorization: `Bearer ${key}` };
  const image = JSON.stringify({ instances: [Array.from(loadMnist().test.x.data.subarray(0, 784))] });
  const children: ChildProcess[] = [];
  const lines = ["Gateway (autocannon, 16 connections, loopback, servers in child processes; 2 cores shared by client and servers)"];
  try {
    const served = await start([bin, "serve", "--model", model, "--port", "0", "--log-level", "off"], /serving \S+ at (http:\/\/[^/]+)\//);
    children.push(served.child);
    const trivial = await start(["-e", TRIVIAL], /trivial at (\S+)/);
    children.push(trivial.child);
    writeFileSync(
      join(dir, "guard.yaml"),
      `server: { port: 0 }
auth: { apiKeys: keys.json }
rateLimit:
  perKey: { requestsPerMinute: 100000000 }
  perIp: { requestsPerMinute: 100000000 }
  concurrency: 1024
auditLog: { path: audit.db, payloads: hash }
routes:
  - name: mnist
    upstream: ${served.url}
    upstreamPath: /v1/models/mnist-cnn:predict
    inputShape: [1, 28, 28]
    roles: [predict]
  - name: trivial
    upstream: ${trivial.url}
    inputShape: [2]
    roles: [predict]
`,
    );
    const guard = await start([bin, "guard", "--config", join(dir, "guard.yaml"), "--log-level", "off"], /listening at (\S+)/);
    children.push(guard.child);

    await load(`${served.url}/v1/models/mnist-cnn:predict`, image, {}, 2);
    const direct = await load(`${served.url}/v1/models/mnist-cnn:predict`, image, {}, seconds);
    await load(`${guard.url}/v1/models/mnist:predict`, image, auth, 2);
    const guarded = await load(`${guard.url}/v1/models/mnist:predict`, image, auth, seconds);
    lines.push(
      `  MNIST CNN, one image per request: direct ${direct.rps.toFixed(0)} req/s p99 ${direct.p99} ms; through the guard (auth + rate limit + validation + audit + metrics) ${guarded.rps.toFixed(0)} req/s p99 ${guarded.p99} ms`,
      `  → guard keeps ${((100 * guarded.rps) / direct.rps).toFixed(1)}% of direct throughput (target ≥ 70%), adds ${(guarded.p99 - direct.p99).toFixed(1)} ms p99 (target ≤ 2 ms); non-2xx ${guarded.non2xx}, errors ${guarded.errors}`,
    );

    const small = JSON.stringify({ instances: [[0.1, 0.9]] });
    const trivialDirect = await load(`${trivial.url}/v1/models/trivial:predict`, small, {}, seconds);
    const trivialGuarded = await load(`${guard.url}/v1/models/trivial:predict`, small, auth, seconds);
    lines.push(
      `  trivial upstream: alone ${trivialDirect.rps.toFixed(0)} req/s; guard with every control on ${trivialGuarded.rps.toFixed(0)} req/s p99 ${trivialGuarded.p99} ms (reference: bare fastify + undici proxy ~16,700 req/s on 2 cores; aim ≥ 10,000)`,
    );

    guard.child.kill("SIGTERM");
    await new Promise((resolve) => guard.child.once("close", resolve));
    const log = new SqliteAuditLog(join(dir, "audit.db"), { readonly: true });
    const verdict = log.verify();
    log.close();
    const answered = 2 * 0 + guarded.sent + trivialGuarded.sent;
    lines.push(`  audit log: ${verdict.entries} entries for ≥ ${answered} measured requests (+ warm-up), chain ${verdict.valid ? "valid" : "BROKEN"}`);
  } finally {
    for (const c of children) c.kill("SIGTERM");
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) for (const line of await benchGateway()) console.log(line);
