/**
 * Hostile YAML through every reader of a user's YAML file (audit suite, audit policy, guard
 * config, threat system.yaml, LLM scanner config, scan policy): all of them go through
 * src/report/yaml.ts, so an alias bomb, collection keys or thousands of nested brackets are
 * one BAD_OPTION that names the file, and the library never prints a warning of its own.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { defaultAuditConfig, loadAuditConfig } from "../../src/audit/config.js";
import { loadPolicy } from "../../src/audit/policy.js";
import { AegisError } from "../../src/errors.js";
import { loadGuardConfig } from "../../src/gateway/config.js";
import { loadScannerConfig } from "../../src/llm/scanner-config.js";
import { parseYaml } from "../../src/report/yaml.js";
import { loadScanPolicy } from "../../src/supplychain/report.js";
import { loadSystem } from "../../src/threat/parse.js";
import { aegis } from "../helpers/cli.js";

const corpus = new URL("../../fixtures/fuzz/yaml/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "aegis-hostile-yaml-"));

const loaders: Record<string, (file: string) => unknown> = {
  "audit --config": (f) => loadAuditConfig(f),
  "audit --policy": (f) => loadPolicy(f, defaultAuditConfig()),
  "guard --config": (f) => loadGuardConfig(f, {}),
  "threat analyze": (f) => loadSystem(f),
  "llm scan --config": (f) => loadScannerConfig(f),
  "scan --policy": (f) => loadScanPolicy(f),
};

/** Runs `fn` and returns the warnings the process emitted meanwhile (they are emitted on the next tick). */
async function warningsDuring(fn: () => void): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (w: Error) => seen.push(w);
  process.on("warning", listener);
  try {
    fn();
  } finally {
    await new Promise((resolve) => setImmediate(resolve));
    process.off("warning", listener);
  }
  return seen;
}

function refuses(file: string, message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof AegisError, `expected an AegisError, got ${(e as Error)?.stack ?? e}`);
    assert.equal(e.code, "BAD_OPTION");
    assert.ok(e.message.includes(file), e.message);
    assert.match(e.message, message);
    assert.doesNotMatch(e.message, /ReferenceError|RangeError|call stack|resource exhaustion/i);
    return true;
  };
}

test("a billion-laughs alias bomb is BAD_OPTION naming the file in every YAML reader", async () => {
  const bomb = join(corpus, "alias-bomb.yaml");
  for (const [command, load] of Object.entries(loaders)) {
    const warnings = await warningsDuring(() => assert.throws(() => load(bomb), refuses(bomb, /aliases .* expand to too many values/), command));
    assert.deepEqual(warnings, [], command);
  }
  // A handful of aliases, as configs use them, still works.
  const few = parseYaml("base: &b {eps: 0.1}\nattacks: [*b, *b, *b]\n", "ok.yaml");
  assert.deepEqual(few.value, { base: { eps: 0.1 }, attacks: [{ eps: 0.1 }, { eps: 0.1 }, { eps: 0.1 }] });
});

test("list, mapping and alias keys are refused at their line and column, without a process warning", async () => {
  const cases: [string, string, RegExp][] = [
    ["collection-key.yaml", "", /collection-key\.yaml:1:3: a key is a list/],
    ["flow-collection-key.yaml", "", /flow-collection-key\.yaml:1:2: a key is a list/],
    ["mapping-key.yaml", "attacks:\n  - ? {a: 1}\n    : 2\n", /mapping-key\.yaml:2:7: a key is a mapping/],
    ["alias-key.yaml", "a: &k x\n*k : 1\n", /alias-key\.yaml:2:1: a key is an alias/],
  ];
  for (const [name, text, message] of cases) {
    const file = text ? join(tmp, name) : join(corpus, name);
    if (text) writeFileSync(file, text);
    for (const [command, load] of Object.entries(loaders)) {
      const warnings = await warningsDuring(() => assert.throws(() => load(file), refuses(file, message), `${command} ${name}`));
      assert.deepEqual(warnings, [], `${command} ${name}`);
    }
  }
});

test("collections nested thousands deep are refused as too deep, never a stack overflow", () => {
  for (const [name, text] of [
    ["flow.yaml", `a: ${"[".repeat(5000)}${"]".repeat(5000)}\n`],
    ["block.yaml", `${Array.from({ length: 100 }, (_, i) => `${" ".repeat(i)}- `).join("\n")}1\n`],
  ]) {
    assert.throws(() => parseYaml(text, name), refuses(name, /nest(s collections)? (too deeply|more than 64 levels)/));
  }
});

test("the aegis CLI exits 2 with one sentence for an alias bomb (threat analyze, guard --config, llm scan --config)", async () => {
  const bomb = join(corpus, "alias-bomb.yaml");
  const runs = await Promise.all([
    aegis(["threat", "analyze", bomb, "--out", tmp]),
    aegis(["guard", "--config", bomb]),
    aegis(["llm", "scan", "--text", "hello", "--config", bomb]),
  ]);
  for (const r of runs) {
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^aegis: .*alias-bomb\.yaml: its aliases \(\*name\) expand to too many values/);
    assert.doesNotMatch(r.stderr, /\n\s+at |Warning|ReferenceError/);
  }
});
