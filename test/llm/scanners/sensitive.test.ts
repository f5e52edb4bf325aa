import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createPipeline } from "../../../src/llm/pipeline.js";
import { deanonymizeScanner } from "../../../src/llm/scanners/deanonymize.js";
import { piiScanner } from "../../../src/llm/scanners/pii.js";
import { sensitiveScanner } from "../../../src/llm/scanners/sensitive.js";

describe("sensitive output scanner", () => {
  it("redacts PII and secrets the model emits, with spans in the answer", async () => {
    const answer = "Contact jane@example.org, key AKIAZ2X7QWERTYUIOPAS, SSN 123-45-6789.";
    const r = await sensitiveScanner().scan(answer);
    assert.equal(r.text, "Contact [REDACTED:email], key [REDACTED:aws-access-key], SSN [REDACTED:us-ssn].");
    assert.equal(r.valid, false);
    assert.deepEqual(
      r.findings.map((f) => answer.slice(...(f.span as [number, number]))),
      ["jane@example.org", "AKIAZ2X7QWERTYUIOPAS", "123-45-6789"],
    );
    const clean = await sensitiveScanner().scan("Your balance is shown in the app.");
    assert.deepEqual([clean.valid, clean.findings.length], [true, 0]);
  });

  it("lets the user's own anonymised values come back through the vault, redacting new ones", async () => {
    const vault = new Map<string, string>();
    const input = await piiScanner().scan("My email is alice@example.com", { vault });
    assert.equal(input.text, "My email is [EMAIL_1]");
    const output = createPipeline("output", [sensitiveScanner(), deanonymizeScanner()]);
    const r = await output.scan("I'll write to [EMAIL_1] and copy boss@example.net.", { vault });
    assert.equal(r.text, "I'll write to alice@example.com and copy [REDACTED:email].");
  });
});
