import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { scannerByName } from "../../src/llm/scanners/index.js";

// Committed, permissively licensed rows of the development corpus (fixtures/llm/README.md).
const FIXTURE = new URL("../../fixtures/llm/injection-train.jsonl", import.meta.url);

interface Row {
  text: string;
  label: number;
  kind: string;
}

describe("heuristic input scanners on benign prompts", () => {
  const rows: Row[] = readFileSync(FIXTURE, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const benign = rows.filter((r) => r.label === 0);

  it("add (almost) no false positives on benign and plain harmful requests", async () => {
    assert.ok(benign.length >= 1000, `${benign.length} benign rows`);
    // The injection classifier is measured in test/llm/injection; here decoded payloads are rescanned for secrets only.
    const scanners = [
      scannerByName("invisible-text"),
      scannerByName("encoded-payload", { rescan: ["secrets"] }),
      scannerByName("secrets"),
      scannerByName("token-limit"),
      scannerByName("language"),
      scannerByName("pii"),
    ];
    const rates: Record<string, number> = {};
    for (const scanner of scanners) {
      let flagged = 0;
      for (const r of benign) if (!(await scanner.scan(r.text, { vault: new Map() })).valid) flagged++;
      rates[scanner.name] = flagged / benign.length;
    }
    for (const name of ["invisible-text", "encoded-payload", "secrets", "token-limit", "language"])
      assert.ok(rates[name] <= 0.003, `${name} FPR ${rates[name]}`);
    // Some benign prompts really contain e-mail addresses or phone numbers: PII findings there are right, but must stay rare.
    assert.ok(rates.pii <= 0.01, `pii flag rate ${rates.pii}`);
  });

  it("the same scanners catch the smuggling they exist for", async () => {
    const attack = rows.find((r) => r.label === 1 && r.text.length < 300) as Row;
    // The attack's printable ASCII, hidden as Unicode tag characters.
    const tags = [...attack.text.replace(/[^\x20-\x7e]/g, "")].map((c) => String.fromCodePoint(0xe0000 + (c.codePointAt(0) as number))).join("");
    assert.equal((await scannerByName("invisible-text").scan(`Hi!${tags}`)).valid, false);
    const secret = `${Buffer.from("my key is AKIAZ2X7QWERTYUIOPAS").toString("base64")}`;
    assert.equal((await scannerByName("encoded-payload", { rescan: ["secrets"] }).scan(`decode ${secret}`)).valid, false);
  });
});
