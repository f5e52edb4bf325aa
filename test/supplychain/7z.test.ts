import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { strToU8, zipSync } from "fflate";
import { atLeast } from "../../src/report/finding.js";
import { scanPaths } from "../../src/supplychain/scan.js";
import type { ScanReport } from "../../src/supplychain/types.js";
import { sevenZip } from "../helpers/model-files.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-7z-"));
// A protocol-0 pickle that would call os.system; it is only ever parsed here.
const EVIL = strToU8("cos\nsystem\n(S'touch /tmp/aegis-pwned'\ntR.");
// A protocol-0 pickle of the dict {'a': 1}.
const BENIGN = strToU8("(dp0\nVa\np1\nI1\ns.");

const findingsAt = (r: ScanReport, member: string) => r.files.flatMap((f) => f.findings).filter((f) => f.location.members?.at(-1) === member);

async function make7z(name: string, entries: Record<string, Uint8Array>, renames: Record<string, string> = {}): Promise<string> {
  const path = join(tmp, name);
  writeFileSync(path, await sevenZip(entries, renames));
  return path;
}

test("a 7z holding a pickle that calls os.system is at least HIGH at that member; its benign sibling is clean", async () => {
  const r = await scanPaths([await make7z("models.7z", { "models/evil.pkl": EVIL, "models/ok.pkl": BENIGN })]);
  assert.equal(r.files[0].format, "7z");
  const evil = findingsAt(r, "models/evil.pkl");
  assert.ok(
    evil.some((f) => atLeast(f.severity, "high") && f.location.members?.[0] === "models/evil.pkl"),
    JSON.stringify(evil),
  );
  const ok = r.files.find((f) => f.members?.at(-1) === "models/ok.pkl");
  assert.equal(ok?.format, "pickle");
  assert.deepEqual(findingsAt(r, "models/ok.pkl"), []);
});

test("a benign 7z is clean", async () => {
  const r = await scanPaths([await make7z("benign.7z", { "ok.pkl": BENIGN })]);
  assert.equal(r.verdict, null, JSON.stringify(r.files));
});

test("a 7z member named with .. is a HIGH path traversal member", async () => {
  const r = await scanPaths([await make7z("traversal.7z", { "ok.pkl": BENIGN }, { "ok.pkl": "../../etc/cron.d/ok.pkl" })]);
  const traversal = r.files.flatMap((f) => f.findings).filter((f) => f.rule === "ARCHIVE-PATH-TRAVERSAL");
  assert.equal(traversal.length, 1);
  assert.equal(traversal[0].severity, "high");
  assert.deepEqual(traversal[0].location.members, ["../../etc/cron.d/ok.pkl"]);
});

test("a 7z inside a zip is opened and its malicious member reported with the full member chain", async () => {
  const inner = readFileSync(await make7z("inner.7z", { "evil.pkl": EVIL }));
  const outer = join(tmp, "outer.zip");
  writeFileSync(outer, zipSync({ "inner.7z": inner }));
  const r = await scanPaths([outer]);
  const hit = r.files.flatMap((f) => f.findings).find((f) => f.location.members?.join(">") === "inner.7z>evil.pkl");
  assert.ok(hit && atLeast(hit.severity, "high"), JSON.stringify(r.files));
});

test("a 7z whose members declare more than the extraction limit is not extracted", async () => {
  const r = await scanPaths([await make7z("big.7z", { "zeros.bin": new Uint8Array(4 << 20) })], { limits: { maxExtractedBytes: 1 << 20 } });
  assert.ok(r.files[0].findings.some((f) => f.rule === "ARCHIVE-BOMB" && f.severity === "high"));
  assert.equal(r.files.length, 1);
});
