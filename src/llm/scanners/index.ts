/**
 * Registry of the input and output scanners: each entry names a scanner, its stage and a
 * factory taking that scanner's options, so the CLI, the gateway config and the API build
 * scanners by name.
 */
import { AegisError } from "../../errors.js";
import { type BanOptions, banScanner } from "./ban.js";
import { deanonymizeScanner } from "./deanonymize.js";
import { type EncodedPayloadOptions, encodedPayloadScanner } from "./encoded-payload.js";
import { type InvisibleTextOptions, invisibleTextScanner } from "./invisible-text.js";
import { type JsonSchemaOptions, jsonSchemaScanner } from "./json-schema.js";
import { type LanguageOptions, languageScanner } from "./language.js";
import { type OutputHandlingOptions, outputHandlingScanner } from "./output-handling.js";
import { type PiiOptions, piiScanner } from "./pii.js";
import { type PromptInjectionOptions, promptInjectionScanner } from "./prompt-injection.js";
import { type RefusalOptions, refusalScanner } from "./refusal.js";
import { type SecretsOptions, secretsScanner } from "./secrets.js";
import { type SensitiveOptions, sensitiveScanner } from "./sensitive.js";
import { type SystemPromptLeakOptions, systemPromptLeakScanner } from "./system-prompt-leak.js";
import { type TokenLimitOptions, tokenLimitScanner } from "./token-limit.js";
import type { Scanner, ScannerStage } from "./types.js";
import { type UrlAllowlistOptions, urlAllowlistScanner } from "./url-allowlist.js";

export interface ScannerEntry {
  name: string;
  stage: ScannerStage | "both";
  description: string;
  /** Options are the scanner's own (see its *Options interface). */
  create(options?: object): Scanner;
}

/** The prompt-injection scanner, also used to rescan decoded payloads. */
function injection(options?: object): Scanner {
  return promptInjectionScanner({ ...(options as PromptInjectionOptions), mode: "prompt" });
}

/** Scanners run on decoded payloads unless the options name others. */
export const DEFAULT_RESCAN = ["prompt-injection", "secrets"];

/** Options of encoded-payload, where `rescan` may also be a list of scanner names (as in a config file). */
function encodedPayloadOptions(options: object = {}): EncodedPayloadOptions {
  const { rescan, ...rest } = options as Omit<EncodedPayloadOptions, "rescan"> & { rescan?: readonly (Scanner | string)[] };
  const list = (rescan ?? DEFAULT_RESCAN).map((s) => (typeof s === "string" ? scannerByName(s) : s));
  if (list.some((s) => s.name === "encoded-payload"))
    throw new AegisError("BAD_OPTION", "encoded-payload cannot rescan with itself; it already decodes nested layers (maxDepth)");
  return { ...rest, rescan: list };
}

export const SCANNERS: readonly ScannerEntry[] = [
  {
    name: "prompt-injection",
    stage: "input",
    description: "prompt injection and jailbreaks (normalisation, heuristics, trained classifier)",
    create: injection,
  },
  {
    name: "indirect-injection",
    stage: "input",
    description: "instructions to the assistant inside retrieved documents and tool outputs (context.documents, or the text itself)",
    create: (o) => promptInjectionScanner({ ...(o as PromptInjectionOptions), mode: "context" }),
  },
  {
    name: "invisible-text",
    stage: "input",
    description: "Unicode tag smuggling, variation-selector payloads, bidi overrides, zero-width characters",
    create: (o) => invisibleTextScanner(o as InvisibleTextOptions),
  },
  {
    name: "encoded-payload",
    stage: "input",
    description: "base64, hex, URL-encoding, ROT13, leetspeak, homoglyphs decoded and rescanned (prompt-injection, secrets)",
    create: (o) => encodedPayloadScanner(encodedPayloadOptions(o)),
  },
  {
    name: "secrets",
    stage: "both",
    description: "API keys, private keys, JWTs, high-entropy tokens (redacted)",
    create: (o) => secretsScanner(o as SecretsOptions),
  },
  {
    name: "pii",
    stage: "input",
    description: "emails, phones, cards, IBANs, national IDs, IPs (anonymised through the vault)",
    create: (o) => piiScanner(o as PiiOptions),
  },
  {
    name: "token-limit",
    stage: "input",
    description: "inputs over a token limit (BPE, default 4096)",
    create: (o) => tokenLimitScanner(o as TokenLimitOptions),
  },
  { name: "ban", stage: "both", description: "banned substrings, regexes and topics (needs options)", create: (o) => banScanner(o as BanOptions) },
  { name: "language", stage: "both", description: "languages outside an allowed list (default eng)", create: (o) => languageScanner(o as LanguageOptions) },
  { name: "sensitive", stage: "output", description: "PII and secrets in answers (redacted)", create: (o) => sensitiveScanner(o as SensitiveOptions) },
  { name: "deanonymize", stage: "output", description: "restores values the pii scanner put in the vault", create: () => deanonymizeScanner() },
  {
    name: "system-prompt-leak",
    stage: "output",
    description: "canaries and system-prompt text in answers",
    create: (o) => systemPromptLeakScanner(o as SystemPromptLeakOptions),
  },
  {
    name: "output-handling",
    stage: "output",
    description: "HTML/JS injection, markdown exfiltration, SQL and shell fragments",
    create: (o) => outputHandlingScanner(o as OutputHandlingOptions),
  },
  {
    name: "url-allowlist",
    stage: "output",
    description: "URLs to hosts outside an allow-list (redacted)",
    create: (o) => urlAllowlistScanner(o as UrlAllowlistOptions),
  },
  { name: "refusal", stage: "output", description: "answers in which the model refuses", create: (o) => refusalScanner(o as RefusalOptions) },
  {
    name: "json-schema",
    stage: "output",
    description: "structured output that is not valid JSON for a schema",
    create: (o) => jsonSchemaScanner(o as JsonSchemaOptions),
  },
];

/** Input scanners run when none are named: cheap, no configuration needed, no false positives on ordinary prompts. */
export const DEFAULT_INPUT_SCANNERS = ["invisible-text", "encoded-payload", "prompt-injection", "secrets", "pii", "token-limit"] as const;
/** Output scanners run when none are named: sensitive before deanonymize, so the user's own values come back unredacted. */
export const DEFAULT_OUTPUT_SCANNERS = ["sensitive", "deanonymize", "system-prompt-leak", "output-handling"] as const;
/** What a gateway also runs on content the model reads but no user typed: tool results and retrieved documents. */
export const DEFAULT_DOCUMENT_SCANNERS = ["indirect-injection"] as const;
/**
 * Scanners whose finding refuses a prompt or withholds an answer. The others (pii,
 * secrets, sensitive, deanonymize, refusal) anonymise, redact or only record: a user's
 * own e-mail address in a prompt is something to keep from the model, not an attack.
 */
export const DEFAULT_BLOCKING_SCANNERS = [
  "prompt-injection",
  "indirect-injection",
  "invisible-text",
  "encoded-payload",
  "token-limit",
  "ban",
  "language",
  "system-prompt-leak",
  "output-handling",
  "url-allowlist",
  "json-schema",
] as const;

export function scannerEntry(name: string): ScannerEntry {
  const entry = SCANNERS.find((s) => s.name === name);
  if (!entry) throw new AegisError("BAD_OPTION", `unknown scanner "${name}"; known scanners: ${SCANNERS.map((s) => s.name).join(", ")}`);
  return entry;
}

export function scannerByName(name: string, options?: object): Scanner {
  return scannerEntry(name).create(options);
}

export function defaultScanners(stage: ScannerStage): Scanner[] {
  return (stage === "input" ? DEFAULT_INPUT_SCANNERS : DEFAULT_OUTPUT_SCANNERS).map((n) => scannerByName(n));
}

export type { Detection, ScanContext, Scanner, ScannerStage, ScanResult } from "./types.js";
export {
  banScanner,
  deanonymizeScanner,
  encodedPayloadScanner,
  invisibleTextScanner,
  jsonSchemaScanner,
  languageScanner,
  outputHandlingScanner,
  piiScanner,
  promptInjectionScanner,
  refusalScanner,
  secretsScanner,
  sensitiveScanner,
  systemPromptLeakScanner,
  tokenLimitScanner,
  urlAllowlistScanner,
};
