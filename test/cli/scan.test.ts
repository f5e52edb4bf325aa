import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { aegis } from "../helpers/cli.js";

const torchDir = new URL("../../fixtures/supplychain/pytorch/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "aegis-scan-cli-"));

test("aegis scan exits 0 on clean models and 11 on findings at or above --fail-on, and writes SARIF", async () => {
  const clean = await aegis(["scan", join(torchDir, "benign_state_dict.pt")]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /verdict (clean|LOW|INFO)/);

  const sarif = join(tmp, "scan.sarif");
  const bad = await aegis(["scan", torchDir, "--json", "--sarif", sarif]);
  assert.equal(bad.code, 11, bad.stderr);
  const report = JSON.parse(bad.stdout);
  assert.equal(report.kind, "scan");
  assert.equal(report.verdict, "critical");
  const s = JSON.parse(readFileSync(sarif, "utf8"));
  assert.equal(s.version, "2.1.0");
  assert.ok(s.runs[0].results.length > 0);
});

test("aegis scan --fail-on: a LOW-only finding passes at high and fails at low; a bad value exits 2", async () => {
  // A harmless pickle named like safetensors: only the LOW extension-spoofing finding.
  const spoof = join(tmp, "weights.safetensors");
  writeFileSync(spoof, Buffer.from("(lp0\nI1\na.", "latin1"));
  assert.equal((await aegis(["scan", spoof])).code, 0);
  const low = await aegis(["scan", spoof, "--fail-on", "low"]);
  assert.equal(low.code, 11);
  assert.match(low.stdout, /^LOW +EXTENSION-SPOOFING /m);
  const wrong = await aegis(["scan", spoof, "--fail-on", "severe"]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--fail-on must be/);
  assert.equal((await aegis(["scan", join(tmp, "missing.pt")])).code, 3);
});

test("aegis scan --policy drops ignored rules, overrides severities and sets failOn; a bad policy exits 2", async () => {
  const policy = join(tmp, "policy.yaml");
  writeFileSync(policy, "failOn: medium\nignore: [UNKNOWN-FORMAT]\nseverity:\n  NUMPY-OBJECT-ARRAY: medium\n");
  const npy = new URL("../../fixtures/data/object.npy", import.meta.url).pathname;
  const r = await aegis(["scan", npy, "--policy", policy, "--json"]);
  assert.equal(r.code, 11, r.stderr);
  assert.equal(JSON.parse(r.stdout).verdict, "medium");
  assert.equal((await aegis(["scan", npy])).code, 0);
  writeFileSync(policy, "failOn: severe\n");
  const bad = await aegis(["scan", npy, "--policy", policy]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /failOn must be one of/);
});
