/**
 * Scanner configuration files (YAML or JSON), shared by `aegis llm` and anything else that
 * builds pipelines by name:
 *
 *   input: [invisible-text, prompt-injection, ban]      # scanner lists per stage (optional)
 *   output: [sensitive, deanonymize, url-allowlist]
 *   block: [prompt-injection, ban, pii]                 # scanners whose finding flags the text (optional)
 *   options:                                           # per-scanner options (optional)
 *     ban: { substrings: ["internal codename"], topics: { crypto: [bitcoin, ethereum] } }
 *     url-allowlist: { allowed: [example.com] }
 */
import { existsSync } from "node:fs";
import { AegisError } from "../errors.js";
import { readYamlFile, type YamlSource } from "../report/yaml.js";
import { createPipeline, type Pipeline, type PipelineOptions } from "./pipeline.js";
import { DEFAULT_INPUT_SCANNERS, DEFAULT_OUTPUT_SCANNERS, SCANNERS, scannerByName } from "./scanners/index.js";
import type { ScannerStage } from "./scanners/types.js";

export interface ScannerConfig {
  input?: string[];
  output?: string[];
  /** Scanners whose finding makes a text invalid (default DEFAULT_BLOCKING_SCANNERS). */
  block?: string[];
  options?: Record<string, object>;
}

const KNOWN = new Set(SCANNERS.map((s) => s.name));

function checkName(source: YamlSource, path: (string | number)[], name: unknown): void {
  if (typeof name !== "string" || !KNOWN.has(name))
    throw new AegisError("BAD_OPTION", `${source.where(path)}: unknown scanner ${JSON.stringify(name)}; known scanners: ${[...KNOWN].join(", ")}`);
}

function stringList(source: YamlSource, key: "input" | "output" | "block"): string[] | undefined {
  const value = (source.value as Record<string, unknown>)[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new AegisError("BAD_OPTION", `${source.where([key])}: ${key} must be a list of scanner names`);
  value.forEach((name, i) => {
    checkName(source, [key, i], name);
  });
  return value;
}

/** Reads and checks a scanner configuration file; errors name the file, the line and the key. */
export function loadScannerConfig(path: string): ScannerConfig {
  if (!existsSync(path)) throw new AegisError("FILE_NOT_FOUND", `scanner configuration ${path} does not exist`);
  const source = readYamlFile(path);
  const raw = source.value;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new AegisError("BAD_OPTION", `${path} must be a mapping with input, output and options`);
  for (const key of Object.keys(raw))
    if (!["input", "output", "block", "options"].includes(key))
      throw new AegisError("BAD_OPTION", `${source.where([key])}: unknown key "${key}"; use input, output, block and options`);
  const options = (raw as Record<string, unknown>).options;
  if (options !== undefined && (options === null || typeof options !== "object" || Array.isArray(options)))
    throw new AegisError("BAD_OPTION", `${source.where(["options"])}: options must map scanner names to their options`);
  for (const [name, value] of Object.entries(options ?? {})) {
    checkName(source, ["options", name], name);
    if (value === null || typeof value !== "object" || Array.isArray(value))
      throw new AegisError("BAD_OPTION", `${source.where(["options", name])}: options.${name} must be a mapping`);
  }
  return {
    input: stringList(source, "input"),
    output: stringList(source, "output"),
    block: stringList(source, "block"),
    options: options as Record<string, object> | undefined,
  };
}

/** The pipeline of a stage: the names given, else the configuration's list, else the defaults; options and blocking scanners from the configuration unless given. */
export function pipelineFromConfig(stage: ScannerStage, config: ScannerConfig = {}, names?: readonly string[], options: PipelineOptions = {}): Pipeline {
  const list = names ?? config[stage] ?? (stage === "input" ? DEFAULT_INPUT_SCANNERS : DEFAULT_OUTPUT_SCANNERS);
  if (list.length === 0) throw new AegisError("BAD_OPTION", `the ${stage} pipeline has no scanners; name at least one (aegis llm scan --list)`);
  return createPipeline(
    stage,
    list.map((name) => scannerByName(name, config.options?.[name])),
    { block: config.block, ...options },
  );
}
