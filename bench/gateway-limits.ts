/**
 * What one request can cost the guard, against what the README states: the LLM route at
 * its bounds (bodyLimit, maxMessages, maxScannedChars) and past them (issue 24's 700 KB of
 * 20,000 one-word messages, target < 50 ms of CPU), and the ML model route at bodyLimit
 * and maxInstances. The reference for a request the guard passes is what the upstream must
 * spend on it anyway, reading it: JSON.parse of the body (target: the guard ≤ 10× that).
 *
 * Each probe runs in a fresh child process that holds the guard and sends the request
 * itself, from a body serialised beforehand: CPU is process.cpuUsage() around the request
 * (median of several; the client's share is measured against a bare HTTP server and
 * printed), memory the growth of the process's peak RSS (getrusage maxRSS) over the
 * probe's first request, after warm-up requests that load the scanners and the model. The
 * upstreams run in other processes, so their work is not counted.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { createApiKey } from "../src/gateway/auth/api-keys.js";
import { type RunningGuard, startGuard } from "../src/gateway/guard.js";
import { start } from "./gateway.js";

const MiB = 1024 * 1024;
const model = fileURLToPath(new URL("../models/mnist-cnn.onnx", import.meta.url));
const chatbot = fileURLToPath(new URL("../examples/vulnerable-chatbot/server.ts", import.meta.url));
const self = fileURLToPath(import.meta.url);
const REPEATS = Number(process.env.BENCH_LIMITS_REPEATS ?? 5);

/**
 * The README's worst cases per request (Guard section), at the defaults: CPU in ms, peak
 * memory in MiB. An LLM request refused by a bound costs reading, hashing and walking its
 * body; one scanned at the bounds about maxMessages × 0.8 ms + maxScannedChars × 3 µs; a
 * model request maxInstances forward passes (MNIST CNN) and their activations.
 */
const STATED = {
  llmRefused: { cpuMs: 50, memoryMiB: 16 },
  llmScanned: { cpuMs: 500, memoryMiB: 64 },
  model: { cpuMs: 200, memoryMiB: 96 },
};

const SENTENCES = [
  "Our team is planning the spring release and wants a short summary of the open tickets.",
  "The invoice for March arrived late, so the totals in the second table are provisional.",
  "Could you suggest three names for a small bakery that sells bread and coffee?",
  "We measured the latency of the new cache at about four milliseconds on average.",
  "Please explain the difference between a mortgage with a fixed rate and one with a variable rate.",
  "The garden needs watering twice a week during the summer months.",
];

function sentences(chars: number, seed: number): string {
  let text = "";
  for (let i = seed; text.length < chars; i++) text += `${SENTENCES[(i * 7) % SENTENCES.length]} `;
  return text.slice(0, chars);
}

interface Probe {
  path: string;
  /** The status the guard must answer, or the probe measured something else. */
  status: number;
  body(): string;
  /** A small request of the same kind, to load the scanners or the model first. */
  warmUp: string;
}

const chat = (messages: unknown[]) => JSON.stringify({ model: "vulnerable-bot", messages });
const SMALL_CHAT = chat([{ role: "user", content: "Hello, what can you help me with?" }]);
const image = (i: number) => Array.from({ length: 784 }, (_, j) => ((i + j) % 3 === 0 ? 1 : 0));

const PROBES: Record<string, Probe> = {
  "LLM, 20,000 one-word messages (issue 24)": {
    path: "/v1/chat/completions",
    status: 413,
    body: () => chat(Array.from({ length: 20_000 }, (_, i) => ({ role: "user", content: `word${i % 10}` }))),
    warmUp: SMALL_CHAT,
  },
  "LLM, maxMessages one-word messages": {
    path: "/v1/chat/completions",
    status: 200,
    body: () => chat(Array.from({ length: 256 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `word${i % 10}` }))),
    warmUp: SMALL_CHAT,
  },
  "LLM, maxScannedChars in 50 messages": {
    path: "/v1/chat/completions",
    status: 200,
    body: () => chat(Array.from({ length: 50 }, (_, i) => ({ role: "user", content: sentences(2000, i) }))),
    warmUp: SMALL_CHAT,
  },
  "LLM, maxMessages messages holding maxScannedChars": {
    path: "/v1/chat/completions",
    status: 200,
    body: () => chat(Array.from({ length: 256 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: sentences(390, i) }))),
    warmUp: SMALL_CHAT,
  },
  "LLM, bodyLimit of empty objects": {
    path: "/v1/chat/completions",
    status: 413,
    body: () => `{"model":"m","messages":[${"{},".repeat(MiB / 3 - 20)}{}]}`,
    warmUp: SMALL_CHAT,
  },
  "LLM, bodyLimit of numbers in an extra field": {
    path: "/v1/chat/completions",
    status: 413,
    body: () => `{"model":"m","messages":[{"role":"user","content":"hi"}],"x":[${"0,".repeat(MiB / 2 - 50)}0]}`,
    warmUp: SMALL_CHAT,
  },
  "LLM, bodyLimit in one message": {
    path: "/v1/chat/completions",
    status: 413,
    body: () => chat([{ role: "user", content: sentences(MiB - 100, 0) }]),
    warmUp: SMALL_CHAT,
  },
  "model route, maxInstances images": {
    path: "/v1/models/digits:predict",
    status: 200,
    body: () => JSON.stringify({ instances: Array.from({ length: 256 }, (_, i) => image(i)) }),
    warmUp: JSON.stringify({ instances: [image(0)] }),
  },
};

interface Measured {
  status: number;
  bytes: number;
  cpuMs: number;
  clientCpuMs: number;
  parseCpuMs: number;
  peakMiB: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function cpuMsOf(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

async function send(url: string, body: Buffer, key?: string): Promise<number> {
  const res = await request(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body,
  });
  await res.body.text();
  return res.statusCode;
}

/** In the child: one probe against a fresh guard. */
async function runProbe(name: string, upstream: string): Promise<Measured> {
  const probe = PROBES[name];
  const dir = mkdtempSync(join(tmpdir(), "aegis-bench-limits-"));
  const key = createApiKey(join(dir, "keys.json"), { name: "bench", roles: ["chat", "predict"] }).key;
  writeFileSync(
    join(dir, "guard.yaml"),
    `server: { port: 0, bodyLimit: ${MiB} }
auth: { apiKeys: keys.json }
auditLog: { path: audit.db }
routes:
  - name: digits
    model: ${model}
  - name: chat
    llm: ${upstream}
`,
  );
  const guard: RunningGuard = await startGuard(join(dir, "guard.yaml"));
  const sink = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("{}"));
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  try {
    const body = Buffer.from(probe.body());
    for (let i = 0; i < 3; i++) await send(`${guard.url}${probe.path}`, Buffer.from(probe.warmUp), key);
    // The first request alone for memory: later ones would add their garbage to its own.
    const peakBefore = process.resourceUsage().maxRSS;
    let status = await send(`${guard.url}${probe.path}`, body, key);
    const peakMiB = (process.resourceUsage().maxRSS - peakBefore) / 1024;
    const cpu: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const start = process.cpuUsage();
      status = await send(`${guard.url}${probe.path}`, body, key);
      cpu.push(cpuMsOf(start));
    }
    const client: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const start = process.cpuUsage();
      await send(`http://127.0.0.1:${(sink.address() as AddressInfo).port}/`, body);
      client.push(cpuMsOf(start));
    }
    const text = body.toString("utf8");
    const parse: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const start = process.cpuUsage();
      JSON.parse(text);
      parse.push(cpuMsOf(start));
    }
    return { status, bytes: body.length, cpuMs: median(cpu), clientCpuMs: median(client), parseCpuMs: median(parse), peakMiB };
  } finally {
    sink.close();
    await guard.close();
  }
}

export async function benchGatewayLimits(): Promise<string[]> {
  const lines = [
    `Guard cost per request at and past its bounds (defaults: bodyLimit 1 MiB, maxMessages 256, maxScannedChars 100,000, maxInstances 256; ${REPEATS} requests each, median CPU; a fresh guard process per probe)`,
  ];
  const upstream = await start(["--import", "tsx", chatbot, "--port", "0"], /chatbot on (http:\/\/[^/]+)\//);
  try {
    for (const name of Object.keys(PROBES)) {
      const out = execFileSync(process.execPath, ["--import", "tsx", self, "--probe", name, upstream.url], { encoding: "utf8", maxBuffer: 16 * MiB });
      const m = JSON.parse(out.trim().split("\n").at(-1) as string) as Measured;
      const expected = PROBES[name].status;
      const llm = name.startsWith("LLM");
      const stated = llm ? (expected === 200 ? STATED.llmScanned : STATED.llmRefused) : STATED.model;
      const verdict = (measured: number, bound: number) => `${measured.toFixed(1)} (stated ≤ ${bound}: ${measured <= bound ? "ok" : "OVER"})`;
      lines.push(
        `  ${name}: ${(m.bytes / 1024).toFixed(0)} KB → HTTP ${m.status}${m.status === expected ? "" : ` (EXPECTED ${expected})`}`,
        `    guard CPU ms ${verdict(m.cpuMs, stated.cpuMs)} [of which client and loopback ${m.clientCpuMs.toFixed(1)}]; peak RSS growth MiB ${verdict(m.peakMiB, stated.memoryMiB)}`,
        `    JSON.parse of the body ${m.parseCpuMs.toFixed(2)} ms → guard / parse ${(m.cpuMs / Math.max(m.parseCpuMs, 0.001)).toFixed(0)}×${m.status === 200 && llm ? " (target ≤ 10×)" : ""}`,
      );
    }
  } finally {
    upstream.child.kill("SIGTERM");
  }
  return lines;
}

const probeAt = process.argv.indexOf("--probe");
if (probeAt >= 0) {
  const measured = await runProbe(process.argv[probeAt + 1], process.argv[probeAt + 2]);
  process.stdout.write(`${JSON.stringify(measured)}\n`);
} else if (process.argv[1] === self) {
  for (const line of await benchGatewayLimits()) console.log(line);
}
