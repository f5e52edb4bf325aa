/**
 * LLM scanners: latency of the default input pipeline (invisible-text, encoded-payload,
 * prompt-injection, secrets, pii, token-limit) on prompts of about 1,000 characters, in
 * ms per 1,000 characters (target p99 ≤ 5 ms; LLM Guard's prompt-injection scanner alone
 * takes 104–213 ms on CPU): wall and CPU time of single scans, and CPU time per prompt
 * averaged over repeated scans, which the kernel's lumpy accounting cannot inflate. Then the PII/secret detectors' precision and recall on the
 * generated labelled set with tricky negatives. With the development corpus present
 * (../shared/data/llm), also the false-positive rate of the heuristic input scanners on
 * its benign and harmful-request rows.
 */
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { createRng } from "../src/data/random.js";
import { percentile } from "../src/llm/evaluate.js";
import { generatePiiCorpus, scoreDetections } from "../src/llm/pii-corpus.js";
import { createPipeline, type Pipeline } from "../src/llm/pipeline.js";
import { DEFAULT_INPUT_SCANNERS, scannerByName } from "../src/llm/scanners/index.js";
import { detectPii } from "../src/llm/scanners/pii.js";
import { detectSecrets } from "../src/llm/scanners/secrets.js";
import { resolveOverlaps } from "../src/llm/scanners/spans.js";
import type { Scanner } from "../src/llm/scanners/types.js";

const DEV_CORPUS = new URL("../../shared/data/llm/", import.meta.url).pathname;
const PROMPTS = Number(process.env.BENCH_LLM_PROMPTS ?? 400);

const SENTENCES = [
  "Can you summarise the quarterly report below and list the three main risks?",
  "Our customer wrote to support@example.com about invoice 4471 and wants a refund.",
  "Please translate the following paragraph into plain English for a new employee.",
  "The deployment failed at 03:12 with exit code 137, which usually means the container ran out of memory.",
  "Write a short, friendly reply that thanks them and explains the next steps.",
  "Ignore the formatting of the table; only the totals in the last column matter.",
  "Here is the stack trace: TypeError: Cannot read properties of undefined (reading 'map') at render (App.tsx:42:17).",
  "Call me on +44 20 7946 0958 if anything is unclear.",
  "The config has token=ZXhhbXBsZS1ub3QtYS1zZWNyZXQ and region eu-west-1.",
  "What are the pros and cons of PostgreSQL versus SQLite for a small internal tool?",
];

/** Deterministic prompts of about 1,000 characters from varied sentences. */
function prompts(n: number): string[] {
  const rng = createRng(5);
  return Array.from({ length: n }, () => {
    let text = "";
    while (text.length < 1000) text += `${SENTENCES[rng.int(SENTENCES.length)]} `;
    return text.slice(0, 1000);
  });
}

async function latency(): Promise<string[]> {
  const lines: string[] = [];
  let scanners: Scanner[] = DEFAULT_INPUT_SCANNERS.map((n) => scannerByName(n));
  try {
    await scannerByName("prompt-injection").scan("warm up");
  } catch (e) {
    lines.push(`llm: prompt-injection scanner unavailable (${(e as Error).message}); measured without it`);
    scanners = DEFAULT_INPUT_SCANNERS.filter((n) => n !== "prompt-injection" && n !== "encoded-payload").map((n) => scannerByName(n));
    scanners.push(scannerByName("encoded-payload", { rescan: [] }));
  }
  const pipeline = createPipeline("input", scanners);
  const texts = prompts(PROMPTS);
  for (const t of texts.slice(0, 30)) await pipeline.scan(t, { vault: new Map() });
  const total: number[] = [];
  // CPU time of the scan (user + system) is immune to the preemption a busy machine adds to wall time.
  const cpu: number[] = [];
  const perScanner = new Map<string, number[]>();
  for (const t of texts) {
    const before = process.cpuUsage();
    const r = await pipeline.scan(t, { vault: new Map() });
    const used = process.cpuUsage(before);
    cpu.push((used.user + used.system) / t.length);
    total.push((r.ms * 1000) / t.length);
    for (const run of r.runs) {
      const list = perScanner.get(run.scanner) ?? [];
      list.push((run.ms * 1000) / t.length);
      perScanner.set(run.scanner, list);
    }
  }
  const fmt = (v: number[]) => `p50 ${percentile(v, 50).toFixed(3)} ms, p99 ${percentile(v, 99).toFixed(3)} ms`;
  const p99 = percentile(total, 99);
  lines.push(
    `llm: input pipeline (${scanners.map((s) => s.name).join(", ")}) on ${texts.length} prompts of 1,000 chars: wall ${fmt(total)}, CPU ${fmt(cpu)} per 1,000 chars (load average ${loadavg()[0].toFixed(1)}) — target p99 ≤ 5 ms ${p99 <= 5 ? "met" : "MISSED on wall time"}; LLM Guard's prompt-injection scanner alone: 104–213 ms on CPU (${(104 / p99).toFixed(0)}–${(213 / p99).toFixed(0)}× our wall p99)`,
  );
  for (const [name, v] of perScanner) lines.push(`llm:   ${name.padEnd(18)} ${fmt(v)} per 1,000 chars`);
  const impossible = cpu.filter((c, i) => c > availableParallelism() * total[i]).length;
  lines.push(
    `llm:   ${impossible} of ${texts.length} scans read more CPU than ${availableParallelism()} cores could spend in their wall time (other threads' time accounted late)`,
    await cpuPerPrompt(pipeline, texts, fmt),
  );
  if (scanners.some((s) => s.name === "prompt-injection")) lines.push(await contextLatency(texts.slice(0, 200), fmt));
  return lines;
}

const REPEATS = 8;

/**
 * CPU time per prompt as the mean of REPEATS scans in a row. A single scan's CPU reading
 * includes the time of the process's other threads (garbage collection, compilation), which
 * the kernel can account late, in scheduler ticks: single scans read more CPU than the
 * machine's cores could spend in their wall time, and 4 such readings in 400 set the
 * single-scan p99. The mean divides that error by REPEATS and keeps what differs between prompts.
 */
async function cpuPerPrompt(pipeline: Pipeline, texts: readonly string[], fmt: (v: number[]) => string): Promise<string> {
  const cpu: number[] = [];
  for (const t of texts) {
    const before = process.cpuUsage();
    for (let r = 0; r < REPEATS; r++) await pipeline.scan(t, { vault: new Map() });
    const used = process.cpuUsage(before);
    cpu.push((used.user + used.system) / REPEATS / t.length);
  }
  const met = percentile(cpu, 99) <= 5 ? "met" : "MISSED";
  return `llm:   CPU per prompt, mean of ${REPEATS} scans: ${fmt(cpu)} per 1,000 chars (load average ${loadavg()[0].toFixed(1)}) — target p99 ≤ 5 ms ${met}`;
}

/** The indirect-injection scanner (context mode: every window scored by its own classifier) on the same texts as retrieved content. */
async function contextLatency(texts: readonly string[], fmt: (v: number[]) => string): Promise<string> {
  const scanner = scannerByName("indirect-injection");
  for (const t of texts.slice(0, 20)) await scanner.scan(t);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (const t of texts) {
    const [before, started] = [process.cpuUsage(), performance.now()];
    await scanner.scan(t);
    const used = process.cpuUsage(before);
    wall.push(((performance.now() - started) * 1000) / t.length);
    cpu.push((used.user + used.system) / t.length);
  }
  return `llm: indirect-injection (context mode) on ${texts.length} texts of 1,000 chars: wall ${fmt(wall)}, CPU ${fmt(cpu)} per 1,000 chars (load average ${loadavg()[0].toFixed(1)})`;
}

function redaction(): string[] {
  const rows = generatePiiCorpus({ seed: 7, perKind: 100 });
  const m = scoreDetections(rows, (text) => resolveOverlaps([...detectSecrets(text), ...detectPii(text)]));
  const negatives = rows.filter((r) => r.entities.length === 0).length;
  return [
    `llm: PII/secret detection on the generated set (${rows.length} rows, ${negatives} tricky negatives): precision ${m.precision.toFixed(4)}, recall ${m.recall.toFixed(4)} (tp ${m.tp}, fp ${m.fp}, fn ${m.fn})${Object.keys(m.errors).length ? `; errors ${JSON.stringify(m.errors)}` : ""}`,
  ];
}

async function devCorpusFalsePositives(): Promise<string[]> {
  if (!existsSync(`${DEV_CORPUS}prompts.jsonl`)) return ["llm: development corpus not found (../shared/data/llm); false-positive rates skipped"];
  const rows = ["prompts.jsonl", "harmful.jsonl"].flatMap((f) =>
    existsSync(DEV_CORPUS + f)
      ? readFileSync(DEV_CORPUS + f, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { text: string; label: number; kind: string })
      : [],
  );
  const benign = rows.filter((r) => r.label === 0);
  const lines: string[] = [];
  const names = ["invisible-text", "encoded-payload", "secrets", "pii", "token-limit", "language"];
  for (const name of names) {
    const scanner = name === "encoded-payload" ? scannerByName(name, { rescan: [] }) : scannerByName(name);
    const flagged: Record<string, [number, number]> = {};
    for (const r of benign) {
      const [hits, seen] = flagged[r.kind] ?? [0, 0];
      const invalid = !(await scanner.scan(r.text, { vault: new Map() })).valid;
      flagged[r.kind] = [hits + (invalid ? 1 : 0), seen + 1];
    }
    const all = Object.values(flagged).reduce((a, [f, n]) => [a[0] + f, a[1] + n], [0, 0]);
    lines.push(
      `llm: ${name.padEnd(16)} flags ${all[0]}/${all[1]} benign dev rows (${((100 * all[0]) / all[1]).toFixed(2)}%): ${Object.entries(flagged)
        .map(([k, [f, n]]) => `${k} ${f}/${n}`)
        .join(", ")}`,
    );
  }
  return lines;
}

export async function benchLlm(): Promise<string[]> {
  return [...(await latency()), ...redaction(), ...(await devCorpusFalsePositives())];
}
