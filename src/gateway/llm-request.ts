/**
 * What the guard reads of an OpenAI-format request before the upstream does. The body is
 * checked against the OpenAI API (chat messages by role, content parts by type, tool calls,
 * tool and function definitions, response formats; legacy completions and embeddings) and
 * every text the model reads is collected into scan units — one per message, one for the
 * tool definitions, one for the response schema — for the route's input scanners. The
 * route's bounds are applied before any scanner or tokenizer runs: on the body's text,
 * before JSON.parse (nesting, number of entries), then during the walk (messages,
 * characters), so a request past them costs a read of its text and at most one walk.
 *
 * Anything the guard cannot classify is refused, never forwarded: a field it does not know
 * may be read by the model. Unknown fields holding a number, a boolean or null pass (the
 * sampling knobs of vLLM, Ollama and llama.cpp); the route's `extraFields` are scanned as
 * text; any other unknown field, content part type or role is a 400.
 */
import { JsonBody } from "./instances-json.js";
import { invalidJson, RequestError } from "./validation.js";

/** Content parts that carry no text the guard can scan; a route admits them by name. */
export const NON_TEXT_PARTS = ["image_url", "input_audio", "file"] as const;
export type NonTextPart = (typeof NON_TEXT_PARTS)[number];

/**
 * Defaults of a route's bounds. Chat apps trim a conversation to the model's context: a
 * 100-turn chat is 200 messages, an agent loop of 60 tool calls about 180; 100,000
 * characters are about 25,000 tokens, a long conversation with a pasted document (the
 * default token-limit scanner already refuses any one text past 4,096 tokens). The time
 * bound is a backstop: at the other two, scanning takes about 0.4 s of CPU.
 */
export const LLM_BOUNDS_DEFAULTS = { maxMessages: 256, maxScannedChars: 100_000, scanTimeoutMs: 2_000 };

export interface RequestBounds {
  /** Most chat messages, completion prompts or embedding inputs in one request. */
  maxMessages: number;
  /** Most characters the scanners read in one request, over every scanned field. */
  maxScannedChars: number;
  /** Whether clients may send system and developer messages (scanned like the rest). */
  allowSystemMessages: boolean;
  /** Non-text content parts admitted (validated, forwarded unscanned). */
  allowedContentParts: readonly NonTextPart[];
  /** Top-level fields beyond OpenAI's that are forwarded, every string in them scanned. */
  extraFields: readonly string[];
  /** The route's own system prompt: a system message that is exactly it is not scanned. */
  systemPrompt?: string;
}

/** One text the model reads; `write` puts the scanners' version back (without it, the text is sent as received). */
export interface TextPiece {
  text: string;
  write?: (text: string) => void;
}

/** Texts scanned as one: a message (its name, parts, tool calls), the tool definitions, the response schema… */
export interface ScanUnit {
  /** Where in the body, for messages: "messages[3]", "tools", "prompt[0]". */
  where: string;
  /** The message's role, for messages. */
  role?: string;
  pieces: TextPiece[];
}

/**
 * JSON entries (objects, lists, and the members and items in them) a body may hold per
 * message of maxMessages: a message with parts and tool calls has 5 to 15, a tool with its
 * schema 20 to 60, so 256 messages and 128 tools stay well below 128 per message.
 */
const ENTRIES_PER_MESSAGE = 128;
/** Deepest JSON nesting read at all (a tool schema nested 32 levels sits about 40 deep). */
const MAX_JSON_DEPTH = 64;

/** OpenAI's rule for function and participant names: no room for a sentence. */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Tool-call ids as OpenAI, vLLM and Ollama write them. */
const ID = /^[\w.:-]{1,128}$/;
/** Definitions (tool parameters, response schemas, extra fields) nested deeper than this are refused. */
const MAX_DEPTH = 32;
/** OpenAI's own limit on tool definitions per request. */
const MAX_TOOLS = 128;

// Fields of the OpenAI request bodies the model does not read as text: forwarded as they are.
const CHAT_PLAIN_FIELDS = [
  "model",
  "audio",
  "frequency_penalty",
  "logit_bias",
  "logprobs",
  "max_completion_tokens",
  "max_tokens",
  "metadata",
  "modalities",
  "n",
  "parallel_tool_calls",
  "presence_penalty",
  "prompt_cache_key",
  "reasoning_effort",
  "safety_identifier",
  "seed",
  "service_tier",
  "stop",
  "store",
  "stream",
  "stream_options",
  "temperature",
  "top_logprobs",
  "top_p",
  "user",
  "verbosity",
  "web_search_options",
];
const CHAT_FIELDS = new Set([...CHAT_PLAIN_FIELDS, "messages", "tools", "functions", "tool_choice", "function_call", "response_format", "prediction"]);
const COMPLETION_FIELDS = new Set([
  "model",
  "prompt",
  "suffix",
  "best_of",
  "echo",
  "frequency_penalty",
  "logit_bias",
  "logprobs",
  "max_tokens",
  "n",
  "presence_penalty",
  "seed",
  "stop",
  "stream",
  "stream_options",
  "temperature",
  "top_p",
  "user",
]);
const EMBEDDING_FIELDS = new Set(["model", "input", "dimensions", "encoding_format", "user"]);

const MESSAGE_FIELDS: Record<string, readonly string[]> = {
  system: ["role", "content", "name"],
  developer: ["role", "content", "name"],
  user: ["role", "content", "name"],
  assistant: ["role", "content", "name", "refusal", "tool_calls", "function_call", "audio"],
  tool: ["role", "content", "tool_call_id"],
  function: ["role", "content", "name"],
};

type Json = Record<string, unknown>;

function invalid(message: string): RequestError {
  return new RequestError(400, "INVALID_INPUT", message);
}

/** An optional field is absent when missing or null (some clients send null for what they leave out). */
function given(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Collects the units and keeps the character count, refusing as soon as it passes the bound. */
class Collector {
  readonly units: ScanUnit[] = [];
  private chars = 0;

  constructor(readonly bounds: RequestBounds) {}

  unit(where: string, role?: string): ScanUnit {
    const unit: ScanUnit = { where, role, pieces: [] };
    this.units.push(unit);
    return unit;
  }

  add(unit: ScanUnit, text: string, write?: (text: string) => void): void {
    this.chars += text.length;
    if (this.chars > this.bounds.maxScannedChars) {
      throw new RequestError(
        413,
        "PROMPT_TOO_LONG",
        `the request holds more than ${this.bounds.maxScannedChars} characters of text to scan (the route's maxScannedChars; reached at ${unit.where}); send less text`,
      );
    }
    if (text !== "") unit.pieces.push({ text, write });
  }

  result(): ScanUnit[] {
    return this.units.filter((u) => u.pieces.length > 0);
  }
}

function checkCount(count: number, what: string, bounds: RequestBounds): void {
  if (count > bounds.maxMessages)
    throw new RequestError(413, "TOO_MANY_MESSAGES", `${count} ${what}; this route accepts at most ${bounds.maxMessages} per request (maxMessages)`);
}

/**
 * Fields of `object` outside `known`: numbers, booleans and null pass; at the top level the
 * route's extra fields are scanned as text; anything else is refused.
 */
function checkOtherFields(object: Json, known: ReadonlySet<string>, where: string, collector?: Collector): void {
  for (const [key, value] of Object.entries(object)) {
    if (known.has(key) || value === null || typeof value === "number" || typeof value === "boolean") continue;
    if (collector?.bounds.extraFields.includes(key)) {
      readJsonTexts(value, collector.unit(key), collector, (v) => {
        object[key] = v;
      });
      continue;
    }
    const path = where ? `${where}.${key}` : key;
    throw invalid(
      `${path} is not a field the guard knows, so it cannot tell whether the model reads it; remove it${where ? "" : ", or list it in the route's extraFields to have it scanned and forwarded"}`,
    );
  }
}

/** Every string in a JSON value (keys are scanned, values also written back), down to MAX_DEPTH. */
function readJsonTexts(value: unknown, unit: ScanUnit, collector: Collector, write: (v: unknown) => void, depth = 0): void {
  if (depth > MAX_DEPTH) throw invalid(`${unit.where} is nested deeper than ${MAX_DEPTH} levels`);
  if (typeof value === "string") collector.add(unit, value, write);
  else if (Array.isArray(value)) {
    value.forEach((item, i) => {
      readJsonTexts(
        item,
        unit,
        collector,
        (v) => {
          value[i] = v;
        },
        depth + 1,
      );
    });
  } else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      collector.add(unit, key);
      // Defined, not assigned: JSON may hold a "__proto__" key, which assignment would not reach.
      const writeMember = (v: unknown) => Object.defineProperty(value, key, { value: v, writable: true, enumerable: true, configurable: true });
      readJsonTexts(item, unit, collector, writeMember, depth + 1);
    }
  }
}

function checkName(value: unknown, where: string): string {
  if (typeof value !== "string" || !NAME.test(value)) throw invalid(`${where} must be 1 to 64 letters, digits, "_" or "-"`);
  return value;
}

function checkId(value: unknown, where: string): void {
  if (typeof value !== "string" || !ID.test(value)) throw invalid(`${where} must be an id of 1 to 128 letters, digits, "_", "-", "." or ":"`);
}

function checkKeys(object: Json, keys: readonly string[], where: string): void {
  checkOtherFields(object, new Set(keys), where);
}

/**
 * The request body as a JSON object. Its text is first walked for nesting and the number
 * of entries, which JSON.parse would turn into up to 30 times the body's size in memory
 * (1 MiB of `[[[…]]]`, `{},{},…` or `0,0,…`): a body past the bounds is refused unparsed.
 */
export function readBody(body: unknown, bounds: RequestBounds): Json {
  if (body instanceof JsonBody) {
    checkStructure(body.text, ENTRIES_PER_MESSAGE * bounds.maxMessages);
    try {
      body = body.value();
    } catch (e) {
      throw invalidJson(e);
    }
  }
  if (!isObject(body)) throw invalid("the body must be a JSON object in the OpenAI format");
  return body;
}

/** Counts the nesting and the entries (objects, lists and commas) of a JSON text, skipping strings; stops once past a bound. */
function checkStructure(text: string, maxEntries: number): void {
  let depth = 0;
  let entries = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // To the closing quote: one not preceded by an odd number of backslashes.
      for (;;) {
        const end = text.indexOf('"', i + 1);
        if (end < 0) return; // not JSON: JSON.parse says so
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
        i = end;
        if (backslashes % 2 === 0) break;
      }
      continue;
    }
    if (c === 0x7d || c === 0x5d) {
      depth--;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) throw invalid(`the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (c !== 0x2c) continue;
    if (++entries > maxEntries) {
      throw new RequestError(
        413,
        "TOO_MANY_MESSAGES",
        `the body holds more than ${maxEntries} JSON entries (${ENTRIES_PER_MESSAGE} per message of the route's maxMessages); send fewer messages`,
      );
    }
  }
}

/** The scan units of a chat completion request. */
export function chatUnits(body: Json, bounds: RequestBounds): ScanUnit[] {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw invalid("messages must be a non-empty list");
  checkCount(messages.length, "messages", bounds);
  const collector = new Collector(bounds);
  checkOtherFields(body, CHAT_FIELDS, "", collector);
  messages.forEach((m, i) => {
    readMessage(m, `messages[${i}]`, collector);
  });
  readDefinitions(body, collector);
  readResponseFormat(body.response_format, collector);
  checkChoice(body.tool_choice, "tool_choice");
  checkChoice(body.function_call, "function_call");
  if (given(body.prediction)) {
    if (!isObject(body.prediction) || body.prediction.type !== "content") throw invalid('prediction must be {"type": "content", "content": …}');
    checkKeys(body.prediction, ["type", "content"], "prediction");
    readContent(body.prediction, "prediction", collector.unit("prediction"), collector, ["text"]);
  }
  return collector.result();
}

/** The scan units of a legacy completion request: each prompt, and the suffix. */
export function completionUnits(body: Json, bounds: RequestBounds): ScanUnit[] {
  const collector = new Collector(bounds);
  readTextList(body, "prompt", collector);
  checkOtherFields(body, COMPLETION_FIELDS, "", collector);
  if (given(body.suffix)) {
    if (typeof body.suffix !== "string") throw invalid("suffix must be a string");
    collector.add(collector.unit("suffix"), body.suffix, (v) => {
      body.suffix = v;
    });
  }
  return collector.result();
}

/** The scan units of an embeddings request: each input. */
export function embeddingUnits(body: Json, bounds: RequestBounds): ScanUnit[] {
  const collector = new Collector(bounds);
  readTextList(body, "input", collector);
  checkOtherFields(body, EMBEDDING_FIELDS, "", collector);
  return collector.result();
}

/** A field that is a string or a list of strings (token-id lists cannot be scanned). */
function readTextList(body: Json, key: string, collector: Collector): void {
  const value = body[key];
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((p) => typeof p === "string"))
    throw invalid(`${key} must be a string or a non-empty list of strings (the guard scans text, so token ids are refused)`);
  checkCount(list.length, key === "prompt" ? "prompts" : "inputs", collector.bounds);
  list.forEach((text, i) => {
    collector.add(collector.unit(Array.isArray(value) ? `${key}[${i}]` : key), text as string, (v) => {
      if (Array.isArray(value)) value[i] = v;
      else body[key] = v;
    });
  });
}

function readMessage(message: unknown, where: string, collector: Collector): void {
  if (!isObject(message)) throw invalid(`${where} must be an object with a role and content, not ${describe(message)}`);
  const role = message.role;
  if (typeof role !== "string" || !Object.hasOwn(MESSAGE_FIELDS, role))
    throw invalid(`${where}.role must be one of ${Object.keys(MESSAGE_FIELDS).join(", ")}, not ${JSON.stringify(role ?? null)}`);
  if ((role === "system" || role === "developer") && !collector.bounds.allowSystemMessages) {
    throw new RequestError(
      422,
      "ROLE_NOT_ALLOWED",
      `${where} is a ${role} message; this route does not take system or developer messages from clients (the operator can allow them with allowSystemMessages, and they are then scanned)`,
    );
  }
  checkKeys(message, MESSAGE_FIELDS[role], where);
  const unit = collector.unit(where, role);
  if (given(message.name)) collector.add(unit, checkName(message.name, `${where}.name`));
  else if (role === "function") throw invalid(`${where}.name is required for a function message`);
  if (role === "tool") checkId(message.tool_call_id, `${where}.tool_call_id`);
  const system = collector.bounds.systemPrompt?.trim();
  // The operator's own system prompt, sent by their application as is, is not the client's text.
  if ((role === "system" || role === "developer") && system && typeof message.content === "string" && message.content.trim() === system) return;
  // An assistant turn that only calls tools has no content; a legacy function result may be null.
  if (given(message.content) || (role !== "assistant" && role !== "function")) readContent(message, where, unit, collector, partsOf(role));
  if (role === "assistant") readAssistantExtras(message, where, unit, collector);
}

function readAssistantExtras(message: Json, where: string, unit: ScanUnit, collector: Collector): void {
  if (given(message.refusal)) {
    if (typeof message.refusal !== "string") throw invalid(`${where}.refusal must be a string`);
    collector.add(unit, message.refusal, (v) => {
      message.refusal = v;
    });
  }
  if (given(message.audio)) {
    if (!isObject(message.audio)) throw invalid(`${where}.audio must be {"id": …}`);
    checkKeys(message.audio, ["id"], `${where}.audio`);
    checkId(message.audio.id, `${where}.audio.id`);
  }
  if (given(message.function_call)) readCall(message.function_call, `${where}.function_call`, unit, collector, "arguments");
  if (!given(message.tool_calls)) return;
  if (!Array.isArray(message.tool_calls)) throw invalid(`${where}.tool_calls must be a list`);
  message.tool_calls.forEach((call, i) => {
    const at = `${where}.tool_calls[${i}]`;
    if (!isObject(call) || (call.type !== "function" && call.type !== "custom"))
      throw invalid(`${at} must be a tool call {"id", "type": "function" or "custom", …}`);
    checkKeys(call, ["id", "type", call.type], at);
    checkId(call.id, `${at}.id`);
    readCall(call[call.type], `${at}.${call.type}`, unit, collector, call.type === "function" ? "arguments" : "input");
  });
}

/** A function call {name, arguments} or a custom tool call {name, input}: the name is checked, the text scanned. */
function readCall(call: unknown, where: string, unit: ScanUnit, collector: Collector, textKey: "arguments" | "input"): void {
  if (!isObject(call)) throw invalid(`${where} must be an object with a name and ${textKey}`);
  checkKeys(call, ["name", textKey], where);
  collector.add(unit, checkName(call.name, `${where}.name`));
  if (typeof call[textKey] !== "string") throw invalid(`${where}.${textKey} must be a string`);
  collector.add(unit, call[textKey] as string, (v) => {
    call[textKey] = v;
  });
}

/** The content parts each role may send: text ones are scanned, non-text ones admitted by the route. */
function partsOf(role: string): readonly string[] {
  if (role === "user") return ["text", ...NON_TEXT_PARTS];
  return role === "assistant" ? ["text", "refusal"] : ["text"];
}

/** `content`: a string or a list of parts. */
function readContent(owner: Json, where: string, unit: ScanUnit, collector: Collector, parts: readonly string[]): void {
  const content = owner.content;
  if (typeof content === "string") {
    collector.add(unit, content, (v) => {
      owner.content = v;
    });
    return;
  }
  if (!Array.isArray(content)) throw invalid(`${where}.content must be a string or a list of content parts, not ${describe(content)}`);
  content.forEach((part, i) => {
    readPart(part, `${where}.content[${i}]`, unit, collector, parts);
  });
}

function readPart(part: unknown, where: string, unit: ScanUnit, collector: Collector, parts: readonly string[]): void {
  if (!isObject(part) || typeof part.type !== "string") throw invalid(`${where} must be a content part with a type, not ${describe(part)}`);
  const type = part.type;
  if (!parts.includes(type)) throw invalid(`${where} has type "${type}"; here the guard knows only ${parts.join(", ")}`);
  if (type === "text" || type === "refusal") {
    checkKeys(part, ["type", type], where);
    if (typeof part[type] !== "string") throw invalid(`${where}.${type} must be a string`);
    collector.add(unit, part[type] as string, (v) => {
      part[type] = v;
    });
    return;
  }
  if (!collector.bounds.allowedContentParts.includes(type as NonTextPart)) {
    throw new RequestError(
      422,
      "CONTENT_PART_NOT_ALLOWED",
      `${where} is an ${type} part; this route takes text only (the operator can admit ${type} parts with allowedContentParts; the guard does not scan what they hold)`,
    );
  }
  checkKeys(part, ["type", type], where);
  const value = part[type];
  const at = `${where}.${type}`;
  if (!isObject(value)) throw invalid(`${at} must be an object`);
  const strings = (keys: readonly string[], required: readonly string[]) => {
    checkKeys(value, keys, at);
    for (const key of keys) {
      if (given(value[key]) ? typeof value[key] !== "string" : required.includes(key)) throw invalid(`${at}.${key} must be a string`);
    }
  };
  if (type === "image_url") strings(["url", "detail"], ["url"]);
  else if (type === "input_audio") strings(["data", "format"], ["data", "format"]);
  else {
    strings(["file_data", "file_id", "filename"], []);
    if (!given(value.file_data) && !given(value.file_id)) throw invalid(`${at} needs file_data or file_id`);
    // The model may read a file's name.
    if (typeof value.filename === "string") {
      collector.add(unit, value.filename, (v) => {
        value.filename = v;
      });
    }
  }
}

/** `tools` and the legacy `functions`: one unit, since the model reads them as one block of its prompt. */
function readDefinitions(body: Json, collector: Collector): void {
  const tools = body.tools ?? [];
  const functions = body.functions ?? [];
  if (!Array.isArray(tools) || !Array.isArray(functions)) throw invalid(`${Array.isArray(tools) ? "functions" : "tools"} must be a list`);
  if (tools.length + functions.length > MAX_TOOLS)
    throw invalid(`tools and functions hold ${tools.length + functions.length} definitions; OpenAI accepts at most ${MAX_TOOLS}`);
  if (tools.length + functions.length === 0) return;
  const unit = collector.unit("tools");
  tools.forEach((tool, i) => {
    const at = `tools[${i}]`;
    if (!isObject(tool) || (tool.type !== "function" && tool.type !== "custom")) throw invalid(`${at} must be {"type": "function" or "custom", …}`);
    checkKeys(tool, ["type", tool.type], at);
    if (tool.type === "function") readDefinition(tool.function, `${at}.function`, "parameters", unit, collector);
    else readDefinition(tool.custom, `${at}.custom`, "format", unit, collector);
  });
  functions.forEach((definition, i) => {
    readDefinition(definition, `functions[${i}]`, "parameters", unit, collector);
  });
}

/**
 * A function, custom tool or response schema: the name checked, the description and every
 * string of the schema or grammar (`body`) scanned (`strict`, a boolean, passes as other flags do).
 */
function readDefinition(definition: unknown, where: string, body: string, unit: ScanUnit, collector: Collector): void {
  if (!isObject(definition)) throw invalid(`${where} must be an object with a name`);
  checkKeys(definition, ["name", "description", body], where);
  collector.add(unit, checkName(definition.name, `${where}.name`));
  if (given(definition.description)) {
    if (typeof definition.description !== "string") throw invalid(`${where}.description must be a string`);
    collector.add(unit, definition.description, (v) => {
      definition.description = v;
    });
  }
  if (!given(definition[body])) return;
  if (!isObject(definition[body])) throw invalid(`${where}.${body} must be an object`);
  readJsonTexts(definition[body], unit, collector, (v) => {
    definition[body] = v;
  });
}

function readResponseFormat(format: unknown, collector: Collector): void {
  if (!given(format)) return;
  if (!isObject(format) || !["text", "json_object", "json_schema"].includes(format.type as string))
    throw invalid('response_format must be {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": …}');
  checkKeys(format, format.type === "json_schema" ? ["type", "json_schema"] : ["type"], "response_format");
  if (format.type === "json_schema") readDefinition(format.json_schema, "response_format.json_schema", "schema", collector.unit("response_format"), collector);
}

/** tool_choice and function_call name a tool: keywords or objects of names, nothing the model reads as prose. */
function checkChoice(choice: unknown, where: string, depth = 0): void {
  if (!given(choice) || typeof choice === "boolean") return;
  if (typeof choice === "string") {
    if (!NAME.test(choice)) throw invalid(`${where} must name a tool or be none, auto or required`);
  } else if (Array.isArray(choice) || isObject(choice)) {
    if (depth > 5) throw invalid(`${where} is nested too deeply`);
    for (const item of Object.values(choice)) checkChoice(item, where, depth + 1);
  } else throw invalid(`${where} must name a tool or be none, auto or required`);
}

/** The text of a message's content as the model reads it (text parts joined by newlines). */
export function messageText(message: unknown): string {
  const content = isObject(message) ? message.content : undefined;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((p): p is { type: "text"; text: string } => isObject(p) && p.type === "text" && typeof p.text === "string")
    .map((p) => p.text)
    .join("\n");
}

/** Record separator: a visible symbol no scanner touches, in runs no piece holds, so the scanned text splits back exactly. */
const MARK = "\u241e";

/** A unit's pieces as one text for the scanners, and how to write the scanned text back into the body. */
export function joinUnit(unit: ScanUnit): { text: string; writeBack(scanned: string): void } {
  let longestRun = 0;
  for (const { text } of unit.pieces) {
    if (!text.includes(MARK)) continue;
    for (const run of text.match(new RegExp(`${MARK}+`, "g")) ?? []) longestRun = Math.max(longestRun, run.length);
  }
  const separator = `\n${MARK.repeat(longestRun + 1)}\n`;
  const text = unit.pieces.map((p) => p.text).join(separator);
  return {
    text,
    writeBack(scanned) {
      if (scanned === text) return;
      const parts = unit.pieces.length === 1 ? [scanned] : scanned.split(separator);
      if (parts.length !== unit.pieces.length) {
        throw new RequestError(
          422,
          "UNSCANNABLE_TEXT",
          `a scanner changed ${unit.where} across the boundary between two of its fields, so the guard cannot put the result back; split the text differently`,
        );
      }
      unit.pieces.forEach((piece, i) => {
        if (parts[i] !== piece.text) piece.write?.(parts[i]);
      });
    },
  };
}
