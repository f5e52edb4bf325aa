/**
 * The symbolic pickle VM against the committed fixtures (scripts/make_supplychain_fixtures.py):
 * every malicious pickle is flagged at HIGH or above with the expected rule and opcode
 * offset, every benign one stays at LOW or below, and the published bypasses stay caught.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { atLeast, type Finding, type Severity } from "../../src/report/finding.js";
import { floatListPickle } from "../../src/supplychain/pickle/bench.js";
import { analysePickle, scanPickle } from "../../src/supplychain/pickle/scan.js";
import { scanBytes } from "../../src/supplychain/scan.js";
import type { ScanContext } from "../../src/supplychain/types.js";

const DIR = fileURLToPath(new URL("../../fixtures/supplychain/pickle/", import.meta.url));
type Expect = { rule: string; severity: Severity; offset: number };
const manifest: Record<string, Expect[] | "clean"> = JSON.parse(readFileSync(`${DIR}manifest.json`, "utf8"));

function context(file: string, nested: string[] = []): ScanContext {
  return {
    location: { file },
    scanNested: async (name, bytes) => {
      nested.push(name);
      return scanPickle(bytes, context(file, nested));
    },
    limits: { maxExtractedBytes: 1e9, maxDepth: 5, maxMembers: 1000, maxCompressionRatio: 100, readerTimeoutMs: 20_000 },
  };
}

const scan = (name: string, nested: string[] = []): Promise<Finding[]> => scanPickle(readFileSync(DIR + name), context(name, nested));
const show = (fs: Finding[]) => fs.map((f) => `${f.severity} ${f.rule} @${f.location.offset} ${f.location.symbol ?? ""}`).join("\n");
const ascii = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

for (const [name, expect] of Object.entries(manifest)) {
  test(`${name} ${expect === "clean" ? "scans clean" : "is flagged"}`, async () => {
    const findings = await scan(name);
    if (expect === "clean") {
      assert.ok(
        findings.every((f) => !atLeast(f.severity, "medium")),
        show(findings),
      );
      return;
    }
    assert.ok(
      findings.some((f) => atLeast(f.severity, "high")),
      show(findings),
    );
    for (const e of expect) {
      const hit = findings.find((f) => f.rule === e.rule && f.location.offset === e.offset);
      assert.ok(hit, `expected ${e.rule} at ${e.offset}, got\n${show(findings)}`);
      // The generated manifest writes severities in capitals.
      assert.ok(atLeast(hit.severity, e.severity.toLowerCase() as Severity), show(findings));
      assert.equal(hit.location.file, name);
    }
  });
}

test("STACK_GLOBAL resolves names from the memo, not the nearest strings", async () => {
  const findings = await scan("memo_stack_global.pkl");
  assert.ok(
    findings.some((f) => f.location.symbol === "posix.system" && f.severity === "critical"),
    show(findings),
  );
  assert.ok(!findings.some((f) => f.location.symbol === "collections.OrderedDict"), show(findings));
});

test("a nested pickle is scanned through the context", async () => {
  const nested: string[] = [];
  const findings = await scan("nested_loads.pkl", nested);
  assert.equal(nested.length, 1);
  assert.ok(
    findings.some((f) => f.location.symbol === "posix.system" && f.severity === "critical"),
    show(findings),
  );
});

test("an imported but uncalled dangerous global is HIGH, a called one CRITICAL", async () => {
  const imported = await scanPickle(ascii("cos\nsystem\n."), context("x"));
  assert.deepEqual(
    imported.map((f) => [f.severity, f.rule, f.location.offset]),
    [["high", "PICKLE-DANGEROUS-GLOBAL", 0]],
  );
  const inst = await scanPickle(ascii("(S'id'\nios\nsystem\n."), context("x"));
  assert.equal(inst[0]?.severity, "critical");
  assert.equal(inst[0]?.location.offset, 7);
});

test("unknown globals are MEDIUM and name the global", async () => {
  const findings = await scanPickle(ascii("\x80\x02cmylib.models\nNet\n)\x81."), context("x"));
  assert.deepEqual(
    findings.map((f) => [f.severity, f.rule, f.location.symbol]),
    [["medium", "PICKLE-UNKNOWN-GLOBAL", "mylib.models.Net"]],
  );
});

test("every opcode family decodes: EXT codes, persistent ids, NEWOBJ_EX, OBJ, frames", () => {
  const seq = [
    [0x80, 5],
    [0x95, 0, 0, 0, 0, 0, 0, 0, 0],
    [0x82, 7, 0x30],
    [0x83, 1, 0, 0x30],
    [0x84, 1, 0, 0, 0, 0x30],
    [0x50, ...ascii("pid\n"), 0x30],
    [0x4e, 0x51, 0x30],
    [0x28, 0x4e, 0x4e, 0x31],
    [0x8c, 1, 0x61, 0x8c, 1, 0x62, 0x93, 0x29, 0x7d, 0x92, 0x30],
    [0x28, 0x8c, 1, 0x61, 0x8c, 1, 0x62, 0x93, 0x4b, 1, 0x6f, 0x30],
    [0x8e, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0x96, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0x98, 0x86, 0x30],
    [0x8d, 1, 0, 0, 0, 0, 0, 0, 0, 0x7a, 0x8f, 0x28, 0x4b, 1, 0x90, 0x28, 0x91, 0x87, 0x94, 0x30],
    [0x4a, 1, 0, 0, 0, 0x4d, 1, 0, 0x8a, 1, 1, 0x8b, 1, 0, 0, 0, 1, 0x88, 0x89, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0x28, 0x74, 0x30],
    [0x4e, 0x2e],
  ].flat();
  const a = analysePickle(new Uint8Array(seq));
  assert.equal(a.error, undefined, a.error?.message);
  assert.deepEqual(
    a.imports.map((i) => [i.opcode, i.name]),
    [
      ["EXT", "code7"],
      ["EXT", "code1"],
      ["EXT", "code1"],
      ["STACK_GLOBAL", "b"],
      ["STACK_GLOBAL", "b"],
    ],
  );
  assert.deepEqual(
    a.calls.map((c) => c.opcode),
    ["NEWOBJ_EX", "OBJ"],
  );
});

test("a pickle truncated mid-argument reports what came before the break", async () => {
  const bytes = readFileSync(`${DIR}os_system_p4.pkl`);
  const findings = await scanPickle(bytes.subarray(0, bytes.length - 6), context("x"));
  assert.ok(
    findings.some((f) => f.rule === "PICKLE-DANGEROUS-GLOBAL"),
    show(findings),
  );
  assert.ok(
    findings.some((f) => f.rule === "MALFORMED-HEADER"),
    show(findings),
  );
});

test("concatenated pickles are all scanned, trailing raw data is not a pickle", async () => {
  const two = Buffer.concat([readFileSync(`${DIR}plain_p2.pkl`), readFileSync(`${DIR}os_system_p0.pkl`)]);
  const findings = await scanPickle(two, context("x"));
  assert.ok(
    findings.some((f) => f.severity === "critical" && f.location.offset === readFileSync(`${DIR}plain_p2.pkl`).length),
    show(findings),
  );
  const legacy = analysePickle(readFileSync(`${DIR}torch_legacy.pt`));
  assert.equal(legacy.pickles, 5);
  assert.equal(legacy.error, undefined);
});

test("the VM keeps up with large benign pickles", () => {
  const big = floatListPickle(2_000_000);
  const t = performance.now();
  const a = analysePickle(big);
  const ms = performance.now() - t;
  assert.equal(a.error, undefined);
  assert.ok(big.length / 1e6 / (ms / 1000) > 20, `${Math.round(ms)} ms for ${big.length} bytes`);
});

test("names computed at load time, escaped or dotted cannot hide a dangerous global", async () => {
  // STACK_GLOBAL(str(b"os"), "system"): the module name is the result of an allow-listed call.
  const computed = ascii("\x80\x04cbuiltins\nstr\nC\x02osX\x05\x00\x00\x00ascii\x86R\x8c\x06system\x93\x8c\x02id\x85R.");
  const c = await scanPickle(computed, context("x"));
  assert.ok(
    c.some((f) => f.rule === "PICKLE-COMPUTED-GLOBAL" && f.severity === "critical" && f.location.offset === 40),
    show(c),
  );
  // Protocol 0 escapes: S'o\x73' is "os" to the loader.
  const escaped = ascii("\x80\x04S'o\\x73'\nV\\u0073ystem\n\x93S'id'\n\x85R.");
  const e = await scanPickle(escaped, context("x"));
  assert.ok(
    e.some((f) => f.location.symbol === "os.system" && f.severity === "critical"),
    show(e),
  );
  // Protocol 4 dotted names: "torch" + "hub.load" is torch.hub.load.
  const dotted = ascii("\x80\x04\x8c\x05torch\x8c\x08hub.load\x93\x8c\x01x\x85R.");
  const d = await scanPickle(dotted, context("x"));
  assert.ok(
    d.some((f) => f.location.symbol === "torch.hub.load" && f.severity === "critical"),
    show(d),
  );
});

test("classes from __main__ are unknown, not dangerous; dunder attributes are dangerous", async () => {
  const main = await scanPickle(ascii("\x80\x02c__main__\nModel\n)\x81."), context("x"));
  assert.deepEqual(
    main.map((f) => f.severity),
    ["medium"],
  );
  const dunder = await scanPickle(ascii("\x80\x02ctorch._utils\n_rebuild_tensor_v2.__globals__\n."), context("x"));
  assert.equal(dunder[0]?.rule, "PICKLE-DANGEROUS-GLOBAL");
});

test("a million repeated imports give a bounded report", async () => {
  const one = ascii("cos\nsystem\n0");
  const many = new Uint8Array(one.length * 100_000 + 2);
  for (let i = 0; i < 100_000; i++) many.set(one, i * one.length);
  many.set([0x4e, 0x2e], one.length * 100_000);
  const findings = await scanPickle(many, context("x"));
  assert.equal(findings.length, 10);
  assert.equal(findings[1]?.location.offset, one.length);
});

test("a pickle that hands the same bytes to pickle.loads 200 times, four levels deep, scans each nested pickle once", async () => {
  // Scanning every call would be 200^4 nested scans; the fuzzer found this as a hang.
  const fanout = readFileSync(new URL("../../fixtures/fuzz/pickle/nested-loads-fanout.pkl", import.meta.url));
  const report = await scanBytes(fanout, "fanout.pkl");
  const findings = report.files.flatMap((f) => f.findings);
  const nestedAt = (depth: number) => findings.filter((f) => f.rule === "PICKLE-NESTED" && (f.location.members?.length ?? 0) === depth);
  // Each level reports its loads (the repeats capped at 10), and the chain goes all four levels down.
  for (const depth of [0, 1, 2, 3]) assert.equal(nestedAt(depth).length, 10, show(findings));
  assert.ok(findings.length < 100, `${findings.length} findings`);
});
