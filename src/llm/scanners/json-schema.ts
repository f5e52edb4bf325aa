/**
 * JSON-schema output scanner (OWASP Top 10 for LLM Applications 2025, LLM05 Improper
 * Output Handling; LLM Guard's JSON scanner, with validation added): structured output is
 * parsed — the whole answer, a ```json fenced block, or the first balanced {…} or […] in the
 * text — and validated with Ajv against the JSON Schema (draft-07 / 2019-09 keywords Ajv
 * supports) the application passes in, so a downstream parser never receives malformed
 * or unexpected data.
 */
import { Ajv, type ErrorObject } from "ajv";
import { AegisError } from "../../errors.js";
import type { Detection, Scanner, ScanResult } from "./types.js";

export interface JsonSchemaOptions {
  /** The JSON Schema the output must satisfy (default {}: any JSON). */
  schema?: object;
  /** Accept JSON embedded in prose or a fenced block, not only a bare JSON answer (default true). */
  extract?: boolean;
}

/** The first balanced JSON object or array in the text, if any. */
function firstJsonValue(text: string): string | undefined {
  const start = text.search(/[[{]/);
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") {
      depth--;
      if (depth === 0) return text.slice(start, i + 1);
    }
  }
  return undefined;
}

export function extractJson(text: string, extract = true): unknown {
  const candidates = [text.trim()];
  if (extract) {
    const fenced = /```(?:json)?\s*\n([\s\S]*?)```/.exec(text);
    if (fenced) candidates.push(fenced[1]);
    const embedded = firstJsonValue(text);
    if (embedded) candidates.push(embedded);
  }
  for (const c of candidates) {
    try {
      return JSON.parse(c);
    } catch {
      // Try the next candidate.
    }
  }
  return undefined;
}

function describe(e: ErrorObject): string {
  return `${e.instancePath || "/"} ${e.message ?? "is invalid"}`;
}

export function jsonSchemaScanner(options: JsonSchemaOptions = {}): Scanner {
  let validate: ReturnType<Ajv["compile"]>;
  try {
    validate = new Ajv({ allErrors: true, strict: false }).compile(options.schema ?? {});
  } catch (e) {
    throw new AegisError("BAD_OPTION", `json-schema: the schema does not compile (${(e as Error).message}); fix the schema`);
  }
  return {
    name: "json-schema",
    stage: "output",
    description: "structured output that is not JSON or does not match a JSON Schema (Ajv)",
    scan(text: string): ScanResult {
      const value = extractJson(text, options.extract ?? true);
      if (value === undefined) {
        return {
          text,
          valid: false,
          score: 1,
          findings: [{ scanner: "json-schema", kind: "invalid-json", score: 1, detail: "no parsable JSON in the answer" }],
        };
      }
      if (validate(value)) return { text, valid: true, score: 0, findings: [] };
      const findings: Detection[] = (validate.errors ?? []).map((e) => ({ scanner: "json-schema", kind: "schema-violation", score: 1, detail: describe(e) }));
      return { text, valid: false, score: 1, findings };
    },
  };
}
