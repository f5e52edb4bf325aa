import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { Command } from "commander";
import { AegisError } from "../../errors.js";
import type { PluginMeta } from "../../llm/index.js";
import {
  buildReport,
  createJudgeDetector,
  createOpenAiTarget,
  DEFAULT_REDTEAM_FORMATS,
  openAiJudge,
  REDTEAM_FORMATS,
  type RedTeamReport,
  runRedTeam,
  writeRedTeamReports,
} from "../../llm/index.js";
import { DETECTORS, PROBES, TRANSFORMS } from "../../llm/redteam/index.js";
import { parseFormats } from "../../report/write.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, interruptSignal, printJson, progressBar } from "../common.js";
import { jsonOption, outOption, parseInteger } from "../options.js";
import { closeQueue, openQueue, type QueueOptions, withQueue } from "../queue.js";

const DEFAULT_KEY_ENV = "AEGIS_REDTEAM_API_KEY";
/** The judge gets its own key: the target's key must never travel to another host. */
const JUDGE_KEY_ENV = "AEGIS_REDTEAM_JUDGE_API_KEY";

interface RedTeamCliOptions extends QueueOptions {
  target?: string;
  model?: string;
  systemPrompt?: string;
  probes?: string;
  transforms?: string;
  out: string;
  format: string;
  json?: boolean;
  list?: boolean;
  concurrency: number;
  maxAttempts: number;
  maxTokens: number;
  timeout: number;
  retries: number;
  stream?: boolean;
  apiKeyEnv?: string;
  seed: number;
  failOn?: string;
  judgeUrl?: string;
  judgeModel?: string;
  header: string[];
}

const list = (value: string | undefined): string[] | undefined =>
  value === undefined
    ? undefined
    : value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);

function listing(json: boolean): void {
  const meta = (p: PluginMeta) => ({ name: p.name, description: p.description, owasp: p.owasp, atlas: p.atlas, tags: p.tags });
  if (json) {
    printJson({ probes: PROBES.map(meta), transforms: TRANSFORMS.map(meta), detectors: DETECTORS.map(meta) });
    return;
  }
  const section = (title: string, plugins: readonly PluginMeta[]) => {
    const width = Math.max(...plugins.map((p) => p.name.length));
    const lines = plugins.map(
      (p) => `  ${p.name.padEnd(width)}  ${p.description}${p.owasp.length + p.atlas.length > 0 ? ` [${[...p.owasp, ...p.atlas].join(", ")}]` : ""}`,
    );
    return `${title}\n${lines.join("\n")}\n`;
  };
  process.stdout.write(
    `${section('Probes (--probes; a family prefix such as "jailbreak" selects all of it)', PROBES)}\n${section("Transforms (--transforms)", TRANSFORMS)}\n${section("Detectors", DETECTORS)}`,
  );
}

function collectHeader(value: string, previous: string[]): string[] {
  if (!/^[A-Za-z0-9-]+:/.test(value)) throw new AegisError("BAD_OPTION", `--header must look like "Name: value", not "${value}"`);
  return [...previous, value];
}

function headerObject(lines: readonly string[]): Record<string, string> {
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
}

function parseRate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new AegisError("BAD_OPTION", `--fail-on must be an attack success rate between 0 and 1, not "${value}"`);
  return n;
}

function summary(report: RedTeamReport, written: readonly string[]): string {
  const pct = (v: number | null) => (v === null ? "—" : `${(v * 100).toFixed(1)}%`);
  const width = Math.max(...report.probes.map((p) => p.name.length));
  const rows = report.probes.map(
    (p) =>
      `  ${p.name.padEnd(width)}  ${String(p.successes).padStart(3)}/${String(p.attempts - p.errors).padEnd(3)} ${pct(p.asr).padStart(6)}${p.errors ? `  (${p.errors} errors)` : ""}`,
  );
  return [
    `red team of ${report.target.model} at ${report.target.url}: ${report.summary.successes} of ${report.summary.attempts - report.summary.errors} attacks succeeded (ASR ${pct(report.summary.asr)})${report.summary.errors ? `, ${report.summary.errors} target errors` : ""}`,
    ...rows,
    `reports: ${written.join(", ")}`,
  ].join("\n");
}

export function redteamCommand(): Command {
  const cmd = new Command("redteam")
    .description("red-team an OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp): injection, jailbreaks, leakage, output handling, consumption")
    .option("--target <url>", "server URL, e.g. http://localhost:11434 (…/v1 and …/v1/chat/completions also work)")
    .option("--model <name>", "model name the server knows, e.g. llama3.1:8b")
    .option("--system-prompt <file>", "the application's system prompt (text file); canaries are appended to it by the leakage probes")
    .option("--probes <list>", "comma-separated probe names or families (default: all; see --list)")
    .option("--transforms <list>", "comma-separated transforms applied on top of the plain attempts, e.g. base64,rot13 (default: none)")
    .addOption(outOption("report folder", "aegis-redteam"))
    .option(
      "--format <list>",
      `reports to write: ${REDTEAM_FORMATS.join(", ")} (SARIF for code-scanning UIs, JUnit for CI: a probe fails above --fail-on)`,
      DEFAULT_REDTEAM_FORMATS.join(","),
    )
    .addOption(jsonOption("the report"))
    .option("--list", "list probes, transforms and detectors, then exit")
    .option("--concurrency <n>", "requests in flight at once", parseInteger("--concurrency", 1), 2)
    .option("--max-attempts <n>", "attempts kept per probe and transform", parseInteger("--max-attempts", 1), 10)
    .option("--max-tokens <n>", "max_tokens of each reply", parseInteger("--max-tokens", 1), 512)
    .option("--timeout <ms>", "time limit of one request", parseInteger("--timeout", 1), 60_000)
    .option("--retries <n>", "retries after network errors, timeouts, 429 and 5xx", parseInteger("--retries", 0), 2)
    .option("--stream", "ask for streamed (server-sent events) replies")
    .option("--header <name:value>", "extra request header, e.g. for a gateway (repeatable)", collectHeader, [])
    .option("--api-key-env <name>", `environment variable holding the API key (default ${DEFAULT_KEY_ENV}; never pass keys on the command line)`)
    .option("--seed <n>", "seed of the canary tokens", parseInteger("--seed", 0), 1)
    .option("--fail-on <asr>", "exit 10 when any probe's attack success rate is above this (0 … 1), for CI")
    .option(
      "--judge-url <url>",
      `optional LLM judge: an OpenAI-compatible endpoint that rules on jailbreak replies (key in ${JUDGE_KEY_ENV}; nothing is sent anywhere else)`,
    )
    .option("--judge-model <name>", "model name for --judge-url");
  withQueue(cmd, "the attempts (one job per 25; each worker reads the API key from its own --api-key-env variable)");
  return cmd.action(async (opts: RedTeamCliOptions) => {
    if (opts.list) {
      listing(opts.json === true);
      return;
    }
    if (!opts.target) throw new AegisError("BAD_OPTION", "--target is required: the URL of an OpenAI-compatible server, e.g. --target http://localhost:11434");
    if (!opts.model) throw new AegisError("BAD_OPTION", "--model is required: the model name the server knows, e.g. --model llama3.1:8b");
    const failOn = opts.failOn === undefined ? undefined : parseRate(opts.failOn);
    const formats = parseFormats(opts.format, REDTEAM_FORMATS);
    if (opts.judgeUrl && !opts.judgeModel) throw new AegisError("BAD_OPTION", "--judge-url needs --judge-model, the judge's model name");
    let systemPrompt: string | undefined;
    if (opts.systemPrompt) {
      if (!existsSync(opts.systemPrompt))
        throw new AegisError("FILE_NOT_FOUND", `--system-prompt: ${opts.systemPrompt} does not exist; give a text file with the system prompt`);
      systemPrompt = readFileSync(opts.systemPrompt, "utf8");
    }
    const keyEnv = opts.apiKeyEnv ?? DEFAULT_KEY_ENV;
    const apiKey = process.env[keyEnv] || undefined;
    if (opts.apiKeyEnv && !apiKey)
      throw new AegisError("BAD_OPTION", `--api-key-env ${keyEnv}: that environment variable is empty; export the API key in it first`);
    const target = createOpenAiTarget({
      url: opts.target,
      model: opts.model,
      apiKey,
      headers: headerObject(opts.header),
      stream: opts.stream === true,
      maxTokens: opts.maxTokens,
      timeoutMs: opts.timeout,
      retries: opts.retries,
      concurrency: opts.concurrency,
    });
    if (opts.queue !== undefined && opts.header.length > 0)
      throw new AegisError("BAD_OPTION", "--header may carry a secret, and jobs on a queue carry none: drop --header, or run without --queue");
    const campaign = await openQueue(opts);
    const executor = campaign?.redteamExecutor({
      url: opts.target,
      model: opts.model,
      apiKeyEnv: keyEnv,
      stream: opts.stream === true,
      maxTokens: opts.maxTokens,
      timeoutMs: opts.timeout,
      retries: opts.retries,
      concurrency: opts.concurrency,
    });
    const judge = opts.judgeUrl
      ? createJudgeDetector(
          openAiJudge({ url: opts.judgeUrl, model: opts.judgeModel!, apiKey: process.env[JUDGE_KEY_ENV] || undefined, timeoutMs: opts.timeout }),
        )
      : undefined;
    mkdirSync(opts.out, { recursive: true });

    const started = new Date();
    const signal = interruptSignal();
    let bar: ReturnType<typeof progressBar> | undefined;
    const run = await runRedTeam({
      target,
      executor,
      probes: list(opts.probes),
      transforms: list(opts.transforms),
      systemPrompt,
      maxAttempts: opts.maxAttempts,
      concurrency: opts.concurrency,
      seed: opts.seed,
      judge,
      signal,
      onProgress: (done, total, last) => {
        bar ??= progressBar("redteam", total);
        bar.update(done, `${last.probe}${last.success ? " ✗ hit" : ""}`);
      },
    }).finally(() => closeQueue(campaign));
    (bar as ReturnType<typeof progressBar> | undefined)?.stop();
    const report = buildReport(run, {
      aegis: AEGIS_VERSION,
      started,
      target: { url: opts.target, model: opts.model, stream: opts.stream === true },
      settings: {
        probes: run.probes.map((p) => p.name),
        transforms: run.transforms,
        max_attempts: opts.maxAttempts,
        concurrency: opts.concurrency,
        seed: opts.seed,
        system_prompt: run.userSystemPrompt ? "user" : "default",
        judge: judge !== undefined,
      },
    });
    const paths = writeRedTeamReports(opts.out, report, formats, failOn);
    info(summary(report, Object.values(paths)));
    if (opts.json) printJson(report);
    if (report.interrupted) throw new AegisError("INTERRUPTED", `interrupted; the reports in ${opts.out} cover the attempts that finished`);
    if (failOn !== undefined) {
      const over = report.probes.filter((p) => p.asr !== null && p.asr > failOn);
      if (over.length > 0) {
        throw new AegisError(
          "POLICY_FAILED",
          `attack success rate above --fail-on ${failOn} on ${over.map((p) => `${p.name} (${((p.asr ?? 0) * 100).toFixed(1)}%)`).join(", ")}; see ${paths.html ?? opts.out}`,
        );
      }
    }
  });
}
