import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { refusalScanner } from "../../../src/llm/scanners/refusal.js";

describe("refusal output scanner", () => {
  it("flags refusals and passes compliant answers", async () => {
    const scanner = refusalScanner();
    for (const text of ["I'm sorry, but I can't help with that.", "I cannot assist with that request as it violates my guidelines."]) {
      const r = await scanner.scan(text);
      assert.equal(r.valid, false, text);
      assert.equal(r.findings[0].kind, "refusal");
    }
    for (const text of ["Sure! Here is a recipe for pancakes: mix flour, eggs and milk.", "Sorry for the delay — here is the summary you asked for."]) {
      const r = await scanner.scan(text);
      assert.equal(r.valid, true, text);
    }
  });
});
