/**
 * YAML a user writes, through every command that reads it: audit suite and policy, guard
 * config, threat system.yaml and ATLAS file, LLM scanner config (and the pipeline built from
 * it), scan policy. All of them go through src/report/yaml.ts; each must answer an AegisError
 * (BAD_OPTION, or FILE_NOT_FOUND for a path the file names) or a value.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { stringify } from "yaml";
import { defaultAuditConfig, loadAuditConfig } from "../../../src/audit/config.js";
import { loadPolicy } from "../../../src/audit/policy.js";
import { loadGuardConfig } from "../../../src/gateway/config.js";
import { loadScannerConfig, pipelineFromConfig } from "../../../src/llm/scanner-config.js";
import { loadScanPolicy } from "../../../src/supplychain/report.js";
import { loadAtlasFile } from "../../../src/threat/atlas-file.js";
import { loadSystem } from "../../../src/threat/parse.js";
import { expectAegisOutcome, type FuzzTarget, inputsOf, text } from "../harness.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-fuzz-yaml-"));
const root = new URL("../../../", import.meta.url).pathname;

const readers: Record<string, (file: string) => unknown> = {
  "audit --config": (f) => loadAuditConfig(f),
  "audit --policy": (f) => loadPolicy(f, defaultAuditConfig()),
  "guard --config": (f) => loadGuardConfig(f, {}),
  "threat analyze": (f) => loadSystem(f),
  "threat analyze --atlas": (f) => loadAtlasFile(f),
  "llm scan --config": (f) => {
    const config = loadScannerConfig(f);
    return [pipelineFromConfig("input", config), pipelineFromConfig("output", config)];
  },
  "scan --policy": (f) => loadScanPolicy(f),
};

const seeds = () =>
  [
    "examples/audit.yaml",
    "examples/policy.yaml",
    "examples/guard.yaml",
    "src/threat/templates/llm-chatbot.yaml",
    "src/threat/templates/image-classifier-api.yaml",
    "fixtures/fuzz/yaml/alias-bomb.yaml",
  ]
    .map((p) => new Uint8Array(readFileSync(join(root, p))))
    .concat(
      text("input: [invisible-text, ban]\noutput: [url-allowlist]\noptions:\n  ban: { substrings: [falcon] }\n  url-allowlist: { allowed: [example.com] }\n"),
      text("failOn: medium\nignore: [UNKNOWN-FORMAT]\nseverity:\n  NUMPY-OBJECT-ARRAY: low\n"),
    );

const TOKENS = [
  "&a ",
  "*a",
  "&b [*a, *a, *a, *a, *a, *a, *a, *a]",
  "? ",
  ": ",
  "- ",
  "[",
  "]",
  "{",
  "}",
  "<<: *a",
  "!!binary ",
  "!!python/object ",
  "\t",
  "\n  ",
  '"',
  "'",
  "|\n",
  "%YAML 1.1\n",
  "---\n",
  "...\n",
  "~",
  "null",
  "1e999",
  "0x7fffffff",
];

/** Values YAML can hold, written out by the yaml library, aliases and all. */
const documents = fc.jsonValue({ maxDepth: 4 }).map((v) => text(stringify(v, { aliasDuplicateObjects: true })));

export const yamlTarget: FuzzTarget = {
  name: "yaml",
  covers: "YAML configs: audit suite and policy, guard, threat system.yaml and ATLAS, LLM scanner config, scan policy",
  extension: "yaml",
  // Every run parses the document seven times, once per reader.
  runs: 120,
  inputs: () => inputsOf(seeds(), TOKENS, documents),
  async check(input) {
    const file = join(tmp, "config.yaml");
    writeFileSync(file, input);
    for (const [command, read] of Object.entries(readers)) await expectAegisOutcome(command, () => read(file), ["BAD_OPTION", "FILE_NOT_FOUND"]);
  },
};
