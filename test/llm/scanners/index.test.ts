import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AegisError } from "../../../src/errors.js";
import { DEFAULT_INPUT_SCANNERS, DEFAULT_OUTPUT_SCANNERS, defaultScanners, SCANNERS, scannerByName } from "../../../src/llm/scanners/index.js";

describe("scanner registry", () => {
  it("builds every scanner by name with its declared stage", () => {
    const names = SCANNERS.map((s) => s.name);
    assert.equal(new Set(names).size, names.length, "names are unique");
    assert.ok(names.includes("prompt-injection"));
    for (const entry of SCANNERS) {
      const scanner = scannerByName(entry.name, entry.name === "ban" ? { substrings: ["x"] } : undefined);
      assert.equal(scanner.name, entry.name);
      assert.ok(entry.stage === scanner.stage || entry.name === "ban", entry.name);
      assert.ok(scanner.description.length > 10);
    }
    assert.throws(
      () => scannerByName("nope"),
      (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && /known scanners/.test(e.message),
    );
  });

  it("default lists hold scanners of the right stage", () => {
    for (const s of defaultScanners("input")) assert.ok(s.stage === "input" || s.stage === "both", s.name);
    for (const s of defaultScanners("output")) assert.ok(s.stage === "output" || s.stage === "both", s.name);
    assert.ok((DEFAULT_INPUT_SCANNERS as readonly string[]).includes("prompt-injection"));
    assert.ok(DEFAULT_OUTPUT_SCANNERS.indexOf("sensitive") < DEFAULT_OUTPUT_SCANNERS.indexOf("deanonymize"));
  });
});
