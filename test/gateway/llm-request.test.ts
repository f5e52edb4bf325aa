/**
 * How the guard reads an OpenAI request for its scanners: the body's structure bounded
 * before it is parsed, one scan unit per message with every text the model reads, and the
 * scanners' version of a unit written back piece by piece — also when a text holds the
 * record separator itself.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { JsonBody } from "../../src/gateway/instances-json.js";
import { chatUnits, joinUnit, LLM_BOUNDS_DEFAULTS, type RequestBounds, readBody, type ScanUnit } from "../../src/gateway/llm-request.js";
import { RequestError } from "../../src/gateway/validation.js";

const bounds: RequestBounds = { ...LLM_BOUNDS_DEFAULTS, allowSystemMessages: true, allowedContentParts: ["file"], extraFields: [], systemPrompt: "Be kind.\n" };

test("one unit per message, holding its name, text parts, file name, refusal and tool calls; the operator's own system prompt is not scanned", () => {
  const body = {
    model: "m",
    messages: [
      { role: "system", content: "Be kind." },
      { role: "developer", content: "Answer in French." },
      {
        role: "user",
        name: "ann",
        content: [
          { type: "text", text: "Read this" },
          { type: "file", file: { file_id: "file-1", filename: "notes.txt" } },
        ],
      },
      {
        role: "assistant",
        content: [{ type: "refusal", refusal: "No." }],
        tool_calls: [{ id: "call_1", type: "custom", custom: { name: "sql", input: "SELECT 1" } }],
      },
    ],
  };
  const units = chatUnits(body, bounds);
  assert.deepEqual(
    units.map((u) => [u.where, u.role, u.pieces.map((p) => p.text)]),
    [
      ["messages[1]", "developer", ["Answer in French."]],
      ["messages[2]", "user", ["ann", "Read this", "notes.txt"]],
      ["messages[3]", "assistant", ["No.", "sql", "SELECT 1"]],
    ],
  );
});

test("a unit's scanned text goes back piece by piece; names are scanned but sent as received", () => {
  const body = {
    messages: [
      {
        role: "user",
        name: "bob",
        content: [
          { type: "text", text: "mail a@x.org" },
          { type: "text", text: "or b@x.org" },
        ],
      },
    ],
  };
  const [unit] = chatUnits(body, bounds);
  const joined = joinUnit(unit);
  joined.writeBack(joined.text.replaceAll("a@x.org", "[EMAIL_1]").replaceAll("b@x.org", "[EMAIL_2]").replace("bob", "[NAME]"));
  assert.deepEqual(body.messages[0].content, [
    { type: "text", text: "mail [EMAIL_1]" },
    { type: "text", text: "or [EMAIL_2]" },
  ]);
  assert.equal(body.messages[0].name, "bob");
});

test("texts that hold the separator mark get a longer separator, so the split back is exact", () => {
  const texts = ["a\u241e", "\u241e\u241e b", "\n\u241e\n", "plain"];
  const written: string[] = [];
  const unit: ScanUnit = { where: "messages[0]", pieces: texts.map((text, i) => ({ text, write: (v) => (written[i] = v) })) };
  const joined = joinUnit(unit);
  assert.equal(joined.text.split("\n\u241e\u241e\u241e\n").length, 4);
  joined.writeBack(joined.text.toUpperCase());
  assert.deepEqual(
    texts.map((t, i) => written[i] ?? t),
    texts.map((t) => t.toUpperCase()),
  );
});

test("a scanner that rewrites across two pieces makes the request unscannable rather than misplaced", () => {
  const unit: ScanUnit = {
    where: "messages[4]",
    pieces: [
      { text: "one", write: () => {} },
      { text: "two", write: () => {} },
    ],
  };
  const joined = joinUnit(unit);
  assert.throws(
    () => joined.writeBack("[REDACTED]"),
    (e) => e instanceof RequestError && e.statusCode === 422 && e.code === "UNSCANNABLE_TEXT" && /messages\[4\]/.test(e.message),
  );
});

test("the body's text is bounded before JSON.parse by its entries and nesting, whatever its strings hold", () => {
  const one = { ...bounds, maxMessages: 1 };
  const tricky = '[{,]}\\"'.repeat(2000);
  const body = readBody(new JsonBody(JSON.stringify({ messages: [{ role: "user", content: tricky }] })), one) as { messages: { content: string }[] };
  assert.equal(body.messages[0].content, tricky);
  const refusal = (text: string, status: number, code: string, message: RegExp) =>
    assert.throws(
      () => readBody(new JsonBody(text), one),
      (e) => e instanceof RequestError && e.statusCode === status && e.code === code && message.test(e.message),
    );
  refusal(JSON.stringify({ messages: [], x: Array.from({ length: 200 }, () => 0) }), 413, "TOO_MANY_MESSAGES", /more than 128 JSON entries/);
  refusal(`{"x":${"[".repeat(70)}${"]".repeat(70)}}`, 400, "INVALID_INPUT", /nested deeper than 64 levels/);
  refusal('{"messages": [', 400, "INVALID_JSON", /not valid JSON/);
  refusal("[1]", 400, "INVALID_INPUT", /JSON object/);
});

test("a schema's strings are written back under any key, __proto__ included", () => {
  const body = JSON.parse(
    '{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"__proto__":"mail a@x.org"}}}]}',
  );
  const tools = chatUnits(body, bounds).find((u) => u.where === "tools") as ScanUnit;
  const joined = joinUnit(tools);
  joined.writeBack(joined.text.replace("a@x.org", "[EMAIL_1]"));
  const parameters = body.tools[0].function.parameters;
  assert.deepEqual(Object.getOwnPropertyDescriptor(parameters, "__proto__")?.value, "mail [EMAIL_1]");
});
