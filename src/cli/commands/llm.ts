import { existsSync, readFileSync } from "node:fs";
import { Command } from "commander";
import { AegisError } from "../../errors.js";
import type { Pipeline, PipelineResult, ScanContext, ScannerStage } from "../../llm/index.js";
import {
  crossValidatePipeline,
  DEFAULT_BLOCKING_SCANNERS,
  DEFAULT_DOCUMENT_SCANNERS,
  DEFAULT_INPUT_SCANNERS,
  DEFAULT_OUTPUT_SCANNERS,
  type EvalReport,
  type EvaluatedRow,
  evalFindings,
  evaluatePipeline,
  formatEvalReport,
  formatProtocolReport,
  loadInjectionModel,
  loadLabelledJsonl,
  loadScannerConfig,
  type ModePipelines,
  missedGates,
  type PipelineProtocolResult,
  type ProtocolReport,
  pipelineFromConfig,
  protocolReport,
  READING_MODES,
  type RowScan,
  readJsonl,
  renderEvalHtml,
  renderEvalJunit,
  renderEvalMarkdown,
  SCANNERS,
  scanRowsByMode,
  sourceGroup,
  summariseModes,
  type UseFilter,
} from "../../llm/index.js";
import { renderSarif } from "../../report/sarif.js";
import { parseFormats, REPORT_FORMATS, writeReports } from "../../report/write.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, interruptSignal, printJson, progressBar } from "../common.js";
import { jsonOption, outOption, parseNumber } from "../options.js";

/** Exit code of `aegis llm scan` when a text is flagged (README, "Exit codes"). */
export const LLM_FLAGGED_EXIT = 11;

interface CommonOptions {
  stage: string;
  scanners?: string;
  block?: string;
  config?: string;
  systemPrompt?: string;
  canary?: string[];
  json?: boolean;
}

function parseStage(stage: string): ScannerStage {
  if (stage !== "input" && stage !== "output") throw new AegisError("BAD_OPTION", `--stage must be input or output, not "${stage}"`);
  return stage;
}

/** The pipeline the options name: --scanners a,b, else the --config file's list, else the stage's defaults; --block likewise. */
export function pipelineFor(stage: ScannerStage, opts: { scanners?: string; block?: string; config?: string }, failFast = false): Pipeline {
  const names = scannerList("--scanners", opts.scanners);
  if (names?.length === 0) throw new AegisError("BAD_OPTION", "--scanners is empty; name at least one scanner (aegis llm scan --list)");
  const block = opts.block === "all" ? SCANNERS.map((s) => s.name) : scannerList("--block", opts.block);
  return pipelineFromConfig(stage, opts.config ? loadScannerConfig(opts.config) : {}, names, { failFast, ...(block ? { block } : {}) });
}

/**
 * The pipelines of `rows`' reading modes: the input pipeline for prompts and, when a row is
 * read in context mode, the document scanners (--documents, default as the guard's).
 */
function modePipelines(
  stage: ScannerStage,
  opts: { scanners?: string; block?: string; config?: string; documents?: string },
  rows: readonly EvaluatedRow[],
): ModePipelines {
  const prompt = pipelineFor(stage, opts);
  if (!rows.some((r) => r.mode === "context")) return { prompt };
  if (stage !== "input")
    throw new AegisError("BAD_OPTION", 'rows read in context mode are retrieved content, scanned on the input side; drop --stage output or their "mode"');
  const names = scannerList("--documents", opts.documents) ?? [...DEFAULT_DOCUMENT_SCANNERS];
  if (names.length === 0) throw new AegisError("BAD_OPTION", "--documents is empty; name at least one scanner (default: indirect-injection)");
  return { prompt, context: pipelineFor(stage, { ...opts, scanners: names.join(",") }) };
}

/** Rows with their reading mode: their "mode" field (checked by the loaders), else context when their source matches --context-sources. */
function withReadingModes<T extends EvaluatedRow & { source?: string }>(rows: readonly T[], contextSources: string | undefined): T[] {
  let pattern: RegExp | undefined;
  try {
    pattern = contextSources === undefined ? undefined : new RegExp(contextSources, "i");
  } catch {
    throw new AegisError("BAD_OPTION", `--context-sources ${JSON.stringify(contextSources)} is not a regular expression; e.g. "BIPIA|agentdojo"`);
  }
  return rows.map((row) => (row.mode === undefined && pattern?.test(row.source ?? "") ? { ...row, mode: "context" } : row));
}

function scannerList(option: string, value: string | undefined): string[] | undefined {
  const names = value
    ?.split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names?.find((n) => !SCANNERS.some((s) => s.name === n));
  if (unknown) throw new AegisError("BAD_OPTION", `${option}: unknown scanner "${unknown}"; known scanners: ${SCANNERS.map((s) => s.name).join(", ")}`);
  return names;
}

const BLOCK_HELP = `scanners whose finding flags a text (default: ${DEFAULT_BLOCKING_SCANNERS.join(", ")}; the others redact or record, as the guard does; "all" for every scanner)`;

function contextFor(opts: CommonOptions): () => ScanContext {
  let systemPrompt: string | undefined;
  if (opts.systemPrompt) {
    if (!existsSync(opts.systemPrompt)) throw new AegisError("FILE_NOT_FOUND", `--system-prompt ${opts.systemPrompt} does not exist`);
    systemPrompt = readFileSync(opts.systemPrompt, "utf8");
  }
  return () => ({ systemPrompt, canaries: opts.canary, vault: new Map() });
}

/** Texts to scan: --text, or each line of --input (a JSON object with "text", or a JSON string). */
export function readTexts(opts: { input?: string; text?: string }): string[] {
  if (opts.text !== undefined) return [opts.text];
  if (!opts.input) throw new AegisError("BAD_OPTION", 'give --text "…" or --input prompts.jsonl');
  if (!existsSync(opts.input)) throw new AegisError("FILE_NOT_FOUND", `--input ${opts.input} does not exist`);
  const texts: string[] = [];
  readFileSync(opts.input, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (!line.trim()) return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new AegisError("BAD_DATA", `${opts.input}:${i + 1} is not JSON; each line must be {"text": "…"} or a JSON string`);
      }
      const text = typeof value === "string" ? value : (value as { text?: unknown })?.text;
      if (typeof text !== "string") throw new AegisError("BAD_DATA", `${opts.input}:${i + 1} has no string "text"`);
      texts.push(text);
    });
  return texts;
}

/**
 * The machine verdict of one text: valid, score, findings (and the text passed on, when a
 * scanner changed it). Spans refer to the text each scanner received (see pipeline.ts).
 */
export function verdictOf(input: string, result: PipelineResult): Record<string, unknown> {
  return {
    valid: result.valid,
    score: Number(result.score.toFixed(4)),
    findings: result.findings.map((f) => ({ scanner: f.scanner, kind: f.kind, span: f.span, score: Number(f.score.toFixed(4)) })),
    ...(result.text !== input ? { text: result.text } : {}),
  };
}

function formatVerdict(i: number, input: string, result: PipelineResult): string {
  const head = `${result.valid ? (result.text === input ? "ok  " : "edit") : "FLAG"} #${i + 1} score ${result.score.toFixed(2)}  ${JSON.stringify(input.length > 60 ? `${input.slice(0, 57)}...` : input)}`;
  const lines = result.findings.map(
    (f) => `       ${f.scanner}/${f.kind}${f.span ? ` [${f.span[0]},${f.span[1]})` : ""} ${f.score.toFixed(2)}${f.detail ? ` — ${f.detail}` : ""}`,
  );
  if (result.text !== input) lines.push(`       passed on: ${JSON.stringify(result.text.length > 200 ? `${result.text.slice(0, 197)}...` : result.text)}`);
  return [head, ...lines].join("\n");
}

function listScanners(): string {
  return `${SCANNERS.map((s) => `${s.name.padEnd(20)}${s.stage.padEnd(8)}${s.description}`).join("\n")}\n\ndefault input: ${DEFAULT_INPUT_SCANNERS.join(", ")}\ndefault output: ${DEFAULT_OUTPUT_SCANNERS.join(", ")}\n`;
}

function scanCommand(): Command {
  return new Command("scan")
    .description("scan prompts (input) or model answers (output) with the LLM scanners; one verdict per text")
    .option("--input <file>", 'JSONL file: one {"text": …} object or JSON string per line')
    .option("--text <text>", "a single text to scan")
    .option("--stage <stage>", "input or output", "input")
    .option("--scanners <names>", "comma-separated scanner names (default: the --config list, else the stage's default list; see --list)")
    .option("--block <names>", BLOCK_HELP)
    .option("--config <file>", "YAML/JSON scanner configuration: input and output lists, block list, options per scanner")
    .option("--system-prompt <file>", "the application's system prompt (system-prompt-leak scanner)")
    .option("--canary <token...>", "canary tokens planted in the system prompt or documents")
    .option("--fail-fast", "stop at the first scanner that flags a text")
    .option("--list", "list the scanners and exit")
    .option("--json", "print one JSON verdict per line on stdout and the summary on stderr")
    .action(async (opts: CommonOptions & { input?: string; text?: string; list?: boolean; failFast?: boolean }) => {
      if (opts.list) {
        process.stdout.write(
          opts.json ? `${JSON.stringify(SCANNERS.map(({ name, stage, description }) => ({ name, stage, description })))}\n` : listScanners(),
        );
        return;
      }
      const pipeline = pipelineFor(parseStage(opts.stage), opts, opts.failFast);
      const context = contextFor(opts);
      const texts = readTexts(opts);
      const signal = interruptSignal();
      let flagged = 0;
      let totalMs = 0;
      for (let i = 0; i < texts.length; i++) {
        if (signal.aborted) throw new AegisError("INTERRUPTED", `scan interrupted after ${i} of ${texts.length} texts`);
        const result = await pipeline.scan(texts[i], context());
        if (!result.valid) flagged++;
        totalMs += result.ms;
        process.stdout.write(`${opts.json ? JSON.stringify(verdictOf(texts[i], result)) : formatVerdict(i, texts[i], result)}\n`);
      }
      const summary = `${texts.length} text${texts.length === 1 ? "" : "s"} scanned with ${pipeline.scanners.map((s) => s.name).join(", ")}: ${flagged} flagged, ${(totalMs / Math.max(1, texts.length)).toFixed(2)} ms per text`;
      if (opts.json) info(summary);
      else process.stdout.write(`${summary}\n`);
      if (flagged > 0) process.exitCode = LLM_FLAGGED_EXIT;
    });
}

const PROTOCOLS = ["leave-one-source-out"] as const;

function evalCommand(): Command {
  return new Command("eval")
    .description('precision, recall, F1, FPR and latency of the scanners on labelled JSONL ({"text", "label"}, label 1 = should be flagged)')
    .requiredOption("--data <files...>", "labelled JSONL files (with --protocol: rows also carry source and kind, as ../shared/data/llm does)")
    .option("--stage <stage>", "input or output", "input")
    .option("--scanners <names>", "comma-separated scanner names (default: the --config list, else the stage's default list)")
    .option("--block <names>", BLOCK_HELP)
    .option("--config <file>", "YAML/JSON scanner configuration: input and output lists, block list, options per scanner")
    .option("--use <use>", 'rows to use by their "use" field: all, train or eval-only', "all")
    .option(
      "--context-sources <regex>",
      'rows whose "source" matches are read in context mode, as retrieved documents and tool outputs (as are rows with "mode": "context"); e.g. "BIPIA|agentdojo"',
    )
    .option(
      "--documents <names>",
      `scanners of the rows read in context mode (default: ${DEFAULT_DOCUMENT_SCANNERS.join(", ")}, as the guard's tool and retrieval messages)`,
    )
    .option(
      "--protocol <name>",
      "leave-one-source-out: retrain the prompt-injection classifier without each source in turn and scan that source with the input pipeline (minutes); eval-only rows are scanned by the shipped model",
    )
    .option("--threshold <score>", "with --protocol: the prompt-injection threshold of every fold (default: the shipped model's)", parseNumber("--threshold"))
    .option("--sources", "with --protocol: print recall or false-positive rate per held-out source")
    .option("--system-prompt <file>", "the application's system prompt (system-prompt-leak scanner)")
    .option("--canary <token...>", "canary tokens")
    .option("--min-recall <r>", "gate: exit 10 when a scanner or the pipeline flags fewer of the rows to flag (0 … 1)", parseRate("--min-recall"))
    .option("--max-fpr <r>", "gate: exit 10 when a scanner or the pipeline flags more of the benign rows (0 … 1)", parseRate("--max-fpr"))
    .option("--format <list>", `write reports into --out: ${REPORT_FORMATS.join(", ")} (JUnit: one case per scanner, failing at the gates)`)
    .addOption(outOption("report folder for --format", "aegis-llm-eval"))
    .addOption(jsonOption("the metrics"))
    .action(async (opts: EvalCliOptions & EvalCliGates) => {
      if (!["all", "train", "eval-only"].includes(opts.use)) throw new AegisError("BAD_OPTION", `--use must be all, train or eval-only, not "${opts.use}"`);
      if (opts.protocol !== undefined) return protocolEval(opts);
      const rows = withReadingModes(
        opts.data.flatMap((file) => loadLabelledJsonl(file, opts.use as UseFilter)),
        opts.contextSources,
      );
      const pipelines = modePipelines(parseStage(opts.stage), opts, rows);
      const bar = progressBar("eval", rows.length);
      let report: EvalReport;
      try {
        report = await evaluatePipeline(pipelines, rows, { signal: interruptSignal(), onProgress: (done) => bar.update(done), context: contextFor(opts) });
      } finally {
        bar.stop();
      }
      if (opts.json) printJson(report);
      else process.stdout.write(formatEvalReport(report));
      writeEvalReports(report, opts);
    });
}

interface EvalCliOptions extends CommonOptions {
  data: string[];
  use: string;
  protocol?: string;
  threshold?: number;
  sources?: boolean;
  contextSources?: string;
  documents?: string;
}

interface EvalCliGates {
  minRecall?: number;
  maxFpr?: number;
  format?: string;
  out: string;
}

/** --format into --out, then the gates: exit 10 (POLICY_FAILED) when a scanner or the pipeline misses one. */
function writeEvalReports(report: EvalReport, opts: EvalCliGates & { data: string[] }): void {
  const gates = { minRecall: opts.minRecall, maxFpr: opts.maxFpr };
  const findings = evalFindings(report, opts.data.join(", "), gates);
  if (opts.format !== undefined) {
    const written = writeReports(opts.out, parseFormats(opts.format), {
      json: () => `${JSON.stringify({ ...report, findings }, null, 2)}\n`,
      md: () => renderEvalMarkdown(report, findings),
      html: () => renderEvalHtml(report, findings),
      sarif: () => renderSarif(findings, { name: "aegis-llm-eval", fullName: "Aegis LLM scanner evaluation", version: AEGIS_VERSION }),
      junit: () => renderEvalJunit(report, gates),
    });
    info(`wrote ${Object.values(written).join(", ")}`);
  }
  const failing = [...report.scanners, report.pipeline].flatMap((m) => missedGates(m, gates).map((why) => `${m.name}: ${why}`));
  if (failing.length > 0) throw new AegisError("POLICY_FAILED", `the scanners miss the gates: ${failing.join("; ")}`);
}

function parseRate(flag: string) {
  return (value: string): number => {
    const r = Number(value);
    if (!(r >= 0 && r <= 1)) throw new AegisError("BAD_OPTION", `${flag} must be a number from 0 to 1, not "${value}"`);
    return r;
  };
}

/** `aegis llm eval --protocol leave-one-source-out`: the numbers the README's table reports. */
async function protocolEval(opts: EvalCliOptions): Promise<void> {
  if (!PROTOCOLS.includes(opts.protocol as (typeof PROTOCOLS)[number]))
    throw new AegisError("BAD_OPTION", `--protocol must be ${PROTOCOLS.join(" or ")}, not "${opts.protocol}"`);
  if (parseStage(opts.stage) !== "input") throw new AegisError("BAD_OPTION", "--protocol evaluates the input pipeline; drop --stage output");
  const rows = withReadingModes(
    opts.data.flatMap((file) => readJsonl(file)),
    opts.contextSources,
  );
  const trainable = rows.filter((r) => r.use !== "eval-only");
  const unseen = rows.filter((r) => r.use === "eval-only");
  const names = opts.scanners
    ?.split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const shipped = modePipelines("input", opts, rows);
  const config = opts.config ? loadScannerConfig(opts.config) : {};
  const model = await loadInjectionModel();
  const threshold = opts.threshold ?? model.threshold;
  const sources = new Set(trainable.map(sourceGroup)).size;
  const bar = progressBar("sources", sources);
  let result: PipelineProtocolResult;
  try {
    result = await crossValidatePipeline(trainable, {
      config,
      names,
      threshold,
      documents: shipped.context?.scanners.map((s) => s.name),
      contextThreshold: model.contextThreshold,
      signal: interruptSignal(),
      onFold: (done) => bar.update(done),
    });
  } finally {
    bar.stop();
  }
  const inMode = (mode: string) => trainable.flatMap((r, i) => ((r.mode ?? "prompt") === mode ? [i] : []));
  const scanners = summariseModes(
    READING_MODES.map((mode) => ({
      mode,
      names: mode === "context" ? result.contextNames : result.names,
      rows: inMode(mode).map((i) => trainable[i]),
      scans: inMode(mode).map((i) => result.scans[i]),
    })),
  );
  const flagsOf = (scans: readonly RowScan[], flagged: (scan: RowScan) => boolean) => scans.map((scan) => (flagged(scan) ? 1 : 0));
  const verdicts = (idx: readonly number[]) =>
    protocolReport(
      idx.map((i) => trainable[i]),
      flagsOf(
        idx.map((i) => result.scans[i]),
        (scan) => !scan.valid,
      ),
      1,
    );
  const pipelineReport = verdicts(trainable.map((_, i) => i));
  const contextRows = inMode("context");
  const modes = contextRows.length ? { prompt: verdicts(inMode("prompt")), context: verdicts(contextRows) } : undefined;
  const injection = result.names.indexOf("prompt-injection");
  const promptRows = inMode("prompt");
  const scannerReport =
    injection >= 0
      ? protocolReport(
          promptRows.map((i) => trainable[i]),
          flagsOf(
            promptRows.map((i) => result.scans[i]),
            (scan) => !scan.runs[injection].valid,
          ),
          1,
        )
      : undefined;
  let unseenReport: ProtocolReport | undefined;
  if (unseen.length) {
    const parts = await scanRowsByMode(shipped, unseen, { signal: interruptSignal() });
    unseenReport = protocolReport(
      parts.flatMap((p) => p.rows),
      parts.flatMap((p) => p.scans.map((s) => (s.valid ? 0 : 1))),
      1,
    );
  }
  const contextThreshold = modes ? { contextThreshold: model.contextThreshold } : {};
  if (opts.json) {
    printJson({
      protocol: opts.protocol,
      threshold,
      ...contextThreshold,
      sources,
      scanners,
      pipeline: pipelineReport,
      ...(modes ? { modes } : {}),
      promptInjection: scannerReport,
      unseen: unseenReport,
    });
    return;
  }
  const out = [
    `leave-one-source-out over ${sources} sources (${trainable.length} rows): every row scanned by an input pipeline whose prompt-injection classifier was trained without the row's source; prompt-injection threshold ${threshold.toFixed(3)}`,
    ...(modes
      ? [
          `${contextRows.length} rows read in context mode (retrieved documents and tool outputs) by ${result.contextNames.join(", ")}, whose context classifier was trained without the row's source; context threshold ${model.contextThreshold.toFixed(3)}`,
        ]
      : []),
    "",
    formatEvalReport(scanners),
    formatProtocolReport(modes ? "all rows, each in its mode" : "input pipeline", pipelineReport, { sources: opts.sources, verdicts: true }),
    ...(modes
      ? [
          formatProtocolReport(`prompt mode (${promptRows.length} rows), input pipeline`, modes.prompt, { verdicts: true }),
          formatProtocolReport(`context mode (${contextRows.length} documents and tool outputs), ${result.contextNames.join(", ")}`, modes.context, {
            verdicts: true,
          }),
        ]
      : []),
    ...(scannerReport ? [formatProtocolReport("prompt-injection scanner alone, prompt-mode rows", scannerReport, { verdicts: true })] : []),
    ...(unseenReport
      ? [
          formatProtocolReport(`eval-only rows (${unseen.length}, never trained or tuned on), shipped models, each row in its mode`, unseenReport, {
            verdicts: true,
          }),
        ]
      : []),
  ];
  process.stdout.write(out.join("\n"));
}

export function llmCommand(): Command {
  return new Command("llm").description("LLM input/output scanners: scan texts, evaluate on labelled data").addCommand(scanCommand()).addCommand(evalCommand());
}
