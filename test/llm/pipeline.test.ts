import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AegisError } from "../../src/errors.js";
import { createPipeline } from "../../src/llm/pipeline.js";
import { banScanner } from "../../src/llm/scanners/ban.js";
import { invisibleTextScanner } from "../../src/llm/scanners/invisible-text.js";
import { piiScanner } from "../../src/llm/scanners/pii.js";
import { secretsScanner } from "../../src/llm/scanners/secrets.js";
import { sensitiveScanner } from "../../src/llm/scanners/sensitive.js";
import type { Scanner } from "../../src/llm/scanners/types.js";

describe("scanner pipeline", () => {
  it("chains redaction: each scanner receives the previous text", async () => {
    const seen: string[] = [];
    const spy: Scanner = {
      name: "spy",
      stage: "input",
      description: "records what it receives",
      scan(text) {
        seen.push(text);
        return { text, valid: true, score: 0.1, findings: [] };
      },
    };
    const pipeline = createPipeline("input", [invisibleTextScanner(), secretsScanner(), piiScanner(), spy]);
    // invisible-text blocks by default; secrets and pii only redact, so alone they would leave the text valid.
    const vault = new Map<string, string>();
    const r = await pipeline.scan("key AKIAZ2X7QWERTYUIOPAS, mail bob@example.com\u200B", { vault });
    assert.deepEqual(seen, ["key [REDACTED:aws-access-key], mail [EMAIL_1]"]);
    assert.equal(r.text, seen[0]);
    assert.equal(r.valid, false);
    assert.equal(r.score, 1);
    assert.deepEqual(
      r.findings.map((f) => `${f.scanner}:${f.kind}`),
      ["invisible-text:zero-width", "secrets:aws-access-key", "pii:email"],
    );
    assert.deepEqual(
      r.runs.map((run) => [run.scanner, run.valid]),
      [
        ["invisible-text", false],
        ["secrets", false],
        ["pii", false],
        ["spy", true],
      ],
    );
    assert.ok(r.runs.every((run) => run.ms >= 0) && r.ms >= 0);
    assert.equal(vault.get("[EMAIL_1]"), "bob@example.com");
  });

  it("only blocking scanners make the text invalid: by default pii and secrets redact and record", async () => {
    const text = "mail bob@example.com, key AKIAZ2X7QWERTYUIOPAS";
    const redacting = await createPipeline("input", [secretsScanner(), piiScanner()]).scan(text);
    assert.equal(redacting.valid, true);
    assert.equal(redacting.text, "mail [EMAIL_1], key [REDACTED:aws-access-key]");
    assert.deepEqual(
      redacting.runs.map((run) => run.valid),
      [false, false],
    );
    const strict = await createPipeline("input", [secretsScanner(), piiScanner()], { block: ["pii"], failFast: true }).scan(text);
    assert.deepEqual([strict.valid, strict.runs.length], [false, 2]);
  });

  it("is valid only when no blocking scanner flags, and stops early with failFast", async () => {
    const scanners = [banScanner({ substrings: ["forbidden"], stage: "input" }), secretsScanner()];
    const clean = await createPipeline("input", scanners).scan("a harmless question");
    assert.deepEqual([clean.valid, clean.score, clean.findings.length, clean.runs.length], [true, 0, 0, 2]);
    const all = await createPipeline("input", scanners).scan("forbidden topic");
    assert.deepEqual([all.valid, all.runs.length], [false, 2]);
    const fast = await createPipeline("input", scanners, { failFast: true }).scan("forbidden topic");
    assert.deepEqual([fast.valid, fast.runs.length], [false, 1]);
  });

  it("refuses a scanner of the other stage", () => {
    assert.throws(
      () => createPipeline("input", [sensitiveScanner()]),
      (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION",
    );
  });
});
