import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AegisError } from "../../../src/errors.js";
import { extractJson, jsonSchemaScanner } from "../../../src/llm/scanners/json-schema.js";

const schema = {
  type: "object",
  properties: { name: { type: "string" }, age: { type: "integer", minimum: 0 } },
  required: ["name", "age"],
  additionalProperties: false,
};

describe("json-schema output scanner", () => {
  const scanner = jsonSchemaScanner({ schema });

  it("accepts valid JSON bare, fenced or embedded in prose", async () => {
    for (const text of ['{"name": "Ada", "age": 36}', 'Here you go:\n```json\n{"name": "Ada", "age": 36}\n```', 'Result: {"name": "A}da", "age": 36} done']) {
      assert.equal((await scanner.scan(text)).valid, true, text);
    }
    assert.deepEqual(extractJson('x [1, {"a": "]"}] y'), [1, { a: "]" }]);
  });

  it("reports schema violations with their paths, and non-JSON answers", async () => {
    const r = await scanner.scan('{"name": "Ada", "age": -1, "admin": true}');
    assert.equal(r.valid, false);
    assert.deepEqual(
      r.findings.map((f) => f.kind),
      ["schema-violation", "schema-violation"],
    );
    assert.ok(r.findings.some((f) => f.detail?.startsWith("/age")));
    const bad = await scanner.scan("I think the name is Ada.");
    assert.deepEqual([bad.valid, bad.findings[0].kind], [false, "invalid-json"]);
    assert.equal((await jsonSchemaScanner({ schema, extract: false }).scan('Result: {"name": "Ada", "age": 1}')).valid, false);
  });

  it("rejects a schema that does not compile", () => {
    assert.throws(() => jsonSchemaScanner({ schema: { type: "no-such-type" } }), AegisError);
  });
});
