/**
 * The guard's cost, measured on loopback with autocannon against servers in child
 * processes: (1) `aegis serve` with the MNIST CNN directly vs through `aegis guard` with
 * auth, rate limit, validation, audit log and metrics on (target: ≥ 70% of the direct
 * throughput, ≤ 2 ms added p99), with a bare fastify + undici proxy (no controls) in
 * between as the floor any proxy hop costs; (2) the guard's raw throughput in front of a trivial
 * upstream (a bare fastify + undici proxy reached ~16,700 req/s on 2 cores; the aim is
 * ≥ 10,000 with every control on); (3) no audit entry lost under that load.
 *
 * Fairness: both sides of each comparison get the same 16 connections and a 2 s warm-up.
 * `aegis serve` runs ONNX Runtime with one intra-op thread (BENCH_GATEWAY_SERVE_THREADS to
 * change it): with one image per request there is nothing to split across threads, and
 * the default (one spinning thread per core) only burns the core the client and the guard
 * need — on this machine it doubled serve's CPU per request (472 vs 236 µs) and did not
 * make the direct run faster (2,036 vs 2,183 req/s). Throughput on a shared
 * 2-core machine moves with whatever else runs, so each line also gives the CPU time each
 * process spent per request (from /proc), which is what the guard's changes act on.
 * BENCH_GATEWAY_PROFILE=<dir> writes a V8 CPU profile of the guard there.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { loadMnist } from "../src/data/mnist.js";
import { SqliteAuditLog } from "../src/gateway/audit-log/sqlite.js";
import { createApiKey } from "../src/gateway/auth/api-keys.js";

const bin = fileURLToPath(new URL("../bin/aegis.js", import.meta.url));
const model = fileURLToPath(new URL("../models/mnist-cnn.onnx", import.meta.url));

/** CPU seconds (user + system) a process has used so far, or NaN where /proc is missing. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Starts `node …args` and resolves with the URL its stderr announces (the first group of `ready`). */
export function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; url: string }> {
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

/** The least a proxy hop costs: fastify and undici as the guard uses them, the body passed on as text, no control at all. */
const BARE_PROXY = `
const app = require("fastify")();
const { Pool } = require("undici");
const [origin, path] = process.argv.slice(1);
const pool = new Pool(origin, { connections: 64, pipelining: 1, keepAliveTimeout: 30000 });
app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => done(null, body));
app.post("/*", async (request, reply) => {
  const res = await pool.request({ path, method: "POST", headers: { "content-type": "application/json" }, body: request.body });
  const text = await res.body.text();
  return reply.code(res.statusCode).type("application/json").send(text);
});
app.listen({ port: 0, host: "127.0.0.1" }).then((url) => process.stderr.write("bare proxy at " + url + "\\n"));
`;

/** Drives the URL for `seconds` and says what each request cost the given processes in CPU. */
async function load(url: string, body: string, headers: Record<string, string>, seconds: number, processes: Record<string, ChildProcess> = {}) {
  const cpuBefore = Object.values(processes).map((p) => cpuSeconds(p.pid));
  const clientBefore = process.cpuUsage();
  const result = await autocannon({
    url,
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...headers },
    connections: 16,
    duration: seconds,
  });
  const client = process.cpuUsage(clientBefore);
  const perRequest = (cpu: number) => `${((1e6 * cpu) / result.requests.total).toFixed(0)} µs`;
  const cpu = Object.entries(processes).map(([name, p], i) => `${name} ${perRequest(cpuSeconds(p.pid) - cpuBefore[i])}`);
  cpu.push(`client ${perRequest((client.user + client.system) / 1e6)}`);
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    sent: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpu: `CPU per request: ${cpu.join(", ")}`,
  };
}

export async function benchGateway(seconds = Number(process.env.BENCH_GATEWAY_SECONDS ?? 10)): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "aegis-bench-gateway-"));
  const key = createApiKey(join(dir, "keys.json"), { name: "bench", roles: ["predict"] }).key;
  const auth = { authorization: `Bearer ${key}` };
  const image = JSON.stringify({ instances: [Array.from(loadMnist().test.x.data.subarray(0, 784))] });
  const children: ChildProcess[] = [];
  const lines = ["Gateway (autocannon, 16 connections, loopback, servers in child processes; 2 cores shared by client and servers)"];
  try {
    const threads = process.env.BENCH_GATEWAY_SERVE_THREADS ?? "1";
    const served = await start(
      [bin, "serve", "--model", model, "--port", "0", "--log-level", "off", "--threads", threads],
      /serving \S+ at (http:\/\/[^/]+)\//,
    );
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
    const bare = await start(["-e", BARE_PROXY, served.url, "/v1/models/mnist-cnn:predict"], /bare proxy at (\S+)/);
    children.push(bare.child);
    const profile = process.env.BENCH_GATEWAY_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_GATEWAY_PROFILE}`] : [];
    const guard = await start([...profile, bin, "guard", "--config", join(dir, "guard.yaml"), "--log-level", "off"], /listening at (\S+)/);
    children.push(guard.child);

    const warmUp = 2;
    let warmUpRequests = 0;
    const directUrl = `${served.url}/v1/models/mnist-cnn:predict`;
    const guardedUrl = `${guard.url}/v1/models/mnist:predict`;
    await load(directUrl, image, {}, warmUp);
    const direct = await load(directUrl, image, {}, seconds, { serve: served.child });
    await load(bare.url, image, {}, warmUp);
    const proxied = await load(bare.url, image, {}, seconds, { proxy: bare.child, serve: served.child });
    warmUpRequests += (await load(guardedUrl, image, auth, warmUp)).sent;
    const guarded = await load(guardedUrl, image, auth, seconds, { guard: guard.child, serve: served.child });
    lines.push(
      `  MNIST CNN, one image per request (serve with ${threads} ONNX Runtime thread${threads === "1" ? "" : "s"}):`,
      `    direct ${direct.rps.toFixed(0)} req/s p99 ${direct.p99} ms; ${direct.cpu}`,
      `    through a bare fastify + undici proxy (no controls) ${proxied.rps.toFixed(0)} req/s p99 ${proxied.p99} ms (${((100 * proxied.rps) / direct.rps).toFixed(1)}% of direct); ${proxied.cpu}`,
      `    through the guard (auth + rate limit + validation + audit + metrics) ${guarded.rps.toFixed(0)} req/s p99 ${guarded.p99} ms; ${guarded.cpu}`,
      `  → guard keeps ${((100 * guarded.rps) / direct.rps).toFixed(1)}% of direct throughput (target ≥ 70%), adds ${(guarded.p99 - direct.p99).toFixed(1)} ms p99 (target ≤ 2 ms); non-2xx ${guarded.non2xx}, errors ${guarded.errors}`,
    );

    const small = JSON.stringify({ instances: [[0.1, 0.9]] });
    const trivialDirectUrl = `${trivial.url}/v1/models/trivial:predict`;
    const trivialGuardedUrl = `${guard.url}/v1/models/trivial:predict`;
    await load(trivialDirectUrl, small, {}, warmUp);
    const trivialDirect = await load(trivialDirectUrl, small, {}, seconds, { upstream: trivial.child });
    warmUpRequests += (await load(trivialGuardedUrl, small, auth, warmUp)).sent;
    const trivialGuarded = await load(trivialGuardedUrl, small, auth, seconds, { guard: guard.child, upstream: trivial.child });
    lines.push(
      `  trivial upstream: alone ${trivialDirect.rps.toFixed(0)} req/s p99 ${trivialDirect.p99} ms; ${trivialDirect.cpu}`,
      `    guard with every control on ${trivialGuarded.rps.toFixed(0)} req/s p99 ${trivialGuarded.p99} ms (aim ≥ 10,000; a bare fastify + undici proxy reached ~16,700 on 2 cores); ${trivialGuarded.cpu}`,
    );

    guard.child.kill("SIGTERM");
    await new Promise((resolve) => guard.child.once("close", resolve));
    const log = new SqliteAuditLog(join(dir, "audit.db"), { readonly: true });
    const verdict = log.verify();
    log.close();
    const answered = warmUpRequests + guarded.sent + trivialGuarded.sent;
    lines.push(
      `  audit log: ${verdict.entries} entries for ${answered} requests sent (autocannon may count a few in flight at the end), chain ${verdict.valid ? "valid" : "BROKEN"}`,
    );
  } finally {
    for (const c of children) c.kill("SIGTERM");
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) for (const line of await benchGateway()) console.log(line);
