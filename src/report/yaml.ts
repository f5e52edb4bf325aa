/**
 * YAML files a user writes (audit suites, policies), read so that every error names the
 * file, the line and the key: a config error should be fixable without guessing.
 */
import { readFileSync } from "node:fs";
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
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

/**
 * Aliases a document may expand into values. A config uses a handful; a "billion laughs"
 * bomb (aliases of aliases) expands to millions and is refused before it is built.
 */
const MAX_ALIAS_COUNT = 100;
/** Configs nest a few levels; thousands of levels are an attack on the parser's stack. */
const MAX_NESTING = 64;

export function parseYaml(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    // logLevel "error": the library would otherwise print warnings (such as stringified keys) to stderr.
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, logLevel: "error" });
  } catch (e) {
    // Thousands of nested or chained ": " overflow the parser's own stack before it can report an error.
    if (!(e instanceof RangeError)) throw e;
    throw new AegisError("BAD_OPTION", `${file}: not valid YAML (it nests too deeply to read); no config needs that`, { cause: e });
  }
  const at = (offset: number) => {
    const pos = lines.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const error = doc.errors[0];
  if (error) {
    // The library reports a stack overflow while building deep collections as this code.
    const why = error.code === "RESOURCE_EXHAUSTION" ? "it nests collections too deeply" : error.message.split("\n")[0];
    throw new AegisError("BAD_OPTION", `${at(error.pos[0])}: not valid YAML (${why})`);
  }
  checkStructure(doc.contents, at);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // The library throws a ReferenceError when aliases expand beyond maxAliasCount.
    if (!(e instanceof ReferenceError)) throw e;
    throw new AegisError(
      "BAD_OPTION",
      `${file}: its aliases (*name) expand to too many values, the shape of a "billion laughs" attack; write the values out or use fewer aliases`,
      { cause: e },
    );
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
  return { file, value, where };
}

/**
 * Refuses what a config never needs and a parser chokes on: collections nested more than
 * MAX_NESTING deep, and mapping keys that are lists, mappings or aliases (JavaScript objects
 * would turn them into strings like "[ a, b ]"). Walks with its own stack, not recursion.
 */
function checkStructure(root: unknown, at: (offset: number) => string): void {
  const pending: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { node, depth } = next;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth >= MAX_NESTING) {
      throw new AegisError("BAD_OPTION", `${at(node.range?.[0] ?? 0)}: collections nest more than ${MAX_NESTING} levels deep; no config needs that`);
    }
    for (const item of node.items) {
      if (isPair(item)) {
        if (item.key !== null && !isScalar(item.key)) {
          const offset = (item.key as { range?: [number, number, number] }).range?.[0] ?? node.range?.[0] ?? 0;
          const what = isAlias(item.key) ? "an alias" : isSeq(item.key) ? "a list" : "a mapping";
          throw new AegisError("BAD_OPTION", `${at(offset)}: a key is ${what}; keys must be plain names or quoted strings`);
        }
        pending.push({ node: item.value, depth: depth + 1 });
      } else pending.push({ node: item, depth: depth + 1 });
    }
  }
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
