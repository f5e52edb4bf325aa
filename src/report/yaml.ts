/**
 * YAML files a user writes (audit suites, policies), read so that every error names the
 * file, the line and the key: a config error should be fixable without guessing.
 */
import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { AegisError } from "../errors.js";

export type YamlPath = readonly (string | number)[];

export interface YamlSource {
  file: string;
  value: unknown;
  /** "file:line" of the value at a path, or of its closest parent that exists. */
  where(path: YamlPath): string;
}

export function readYamlFile(file: string): YamlSource {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `Cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path.`, {
      cause: e,
    });
  }
  return parseYaml(text, file);
}

export function parseYaml(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const pos = lines.linePos(error.pos[0]);
    throw new AegisError("BAD_OPTION", `${file}:${pos.line}:${pos.col}: not valid YAML (${error.message.split("\n")[0]})`);
  }
  // The line of a mapping's key (where a reader looks), else of the value, else of the closest parent.
  const where = (path: YamlPath): string => {
    for (let k = path.length; k > 0; k--) {
      const parent = doc.getIn(path.slice(0, k - 1), true);
      const last = path[k - 1];
      let node: unknown;
      if (isMap(parent)) node = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last))?.key;
      else if (isSeq(parent) && typeof last === "number") node = parent.items[last];
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range) return `${file}:${lines.linePos(range[0]).line}`;
    }
    return file;
  };
  return { file, value: doc.toJS(), where };
}

/** "attacks[1].eps" for a path. */
export function keyName(path: YamlPath): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** Typed reads of a parsed YAML value; each failure names the key and its line. */
export class YamlReader {
  constructor(readonly source: YamlSource) {}

  fail(path: YamlPath, message: string): never {
    throw new AegisError("BAD_OPTION", `${this.source.where(path)}: ${keyName(path) || "the document"} ${message}`);
  }

  /** A mapping whose keys are all among `allowed` (unless `allowed` is omitted). */
  map(path: YamlPath, value: unknown, allowed?: readonly string[]): Record<string, unknown> {
    if (value === null || typeof value !== "object" || Array.isArray(value)) this.fail(path, `must be a mapping of keys to values, not ${describe(value)}`);
    const record = value as Record<string, unknown>;
    if (allowed) {
      for (const key of Object.keys(record)) {
        if (!allowed.includes(key)) this.fail([...path, key], `is not a known key; use ${allowed.join(", ")}`);
      }
    }
    return record;
  }

  list(path: YamlPath, value: unknown): unknown[] {
    if (!Array.isArray(value)) this.fail(path, `must be a list, not ${describe(value)}`);
    return value;
  }

  number(path: YamlPath, value: unknown, range: { min?: number; max?: number; integer?: boolean } = {}): number {
    const ok = typeof value === "number" && Number.isFinite(value) && (!range.integer || Number.isInteger(value));
    if (!ok || (range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max)) {
      const bounds = [range.min !== undefined ? `≥ ${range.min}` : "", range.max !== undefined ? `≤ ${range.max}` : ""].filter(Boolean).join(" and ");
      this.fail(path, `must be ${range.integer ? "an integer" : "a number"}${bounds ? ` ${bounds}` : ""}, not ${describe(value)}`);
    }
    return value as number;
  }

  string(path: YamlPath, value: unknown, choices?: readonly string[]): string {
    // YAML reads `norm: 2` as a number; a choice list of strings accepts it as written.
    const text = typeof value === "number" && choices ? String(value) : value;
    if (typeof text !== "string" || text === "") this.fail(path, `must be a non-empty string, not ${describe(value)}`);
    if (choices && !choices.includes(text)) this.fail(path, `must be one of ${choices.join(", ")}, not "${text}"`);
    return text;
  }

  boolean(path: YamlPath, value: unknown): boolean {
    if (typeof value !== "boolean") this.fail(path, `must be true or false, not ${describe(value)}`);
    return value;
  }
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return "empty";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return JSON.stringify(value);
}
