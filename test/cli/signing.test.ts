/** `aegis keygen → sign → verify` and `aegis bom` through the real binary: outputs, exit codes, typed errors. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { aegis } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-signing-cli-"));

test("keygen, sign and verify a folder; a changed file exits 12 and is named", async () => {
  const dir = join(tmp, "model");
  mkdirSync(dir);
  for (const f of ["a.onnx", "b.json", "c.bin"]) writeFileSync(join(dir, f), f);
  const key = join(tmp, "signing.key");
  let r = await aegis(["keygen", "--type", "ecdsa-p256", "--out", key]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(key).mode & 0o777, 0o600);
  assert.match(readFileSync(`${key}.pub`, "utf8"), /BEGIN PUBLIC KEY/);

  r = await aegis(["sign", dir, "--key", key]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(statSync(join(dir, "model.sig")).isFile());

  r = await aegis(["verify", dir, "--pub", `${key}.pub`]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^OK/);

  writeFileSync(join(dir, "b.json"), "B.json");
  r = await aegis(["verify", dir, "--pub", `${key}.pub`, "--json"]);
  assert.equal(r.code, 12);
  const out = JSON.parse(r.stdout);
  assert.equal(out.valid, false);
  assert.deepEqual(out.changed, ["b.json"]);
});

test("typed errors: an unknown key type, a missing key, a public key given to sign", async () => {
  let r = await aegis(["keygen", "--type", "rsa", "--out", join(tmp, "rsa.key")]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--type must be ed25519 or ecdsa-p256/);
  const file = join(tmp, "m.onnx");
  writeFileSync(file, "x");
  r = await aegis(["sign", file, "--key", join(tmp, "missing.key")]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /aegis keygen/);
  const key = join(tmp, "ed.key");
  assert.equal((await aegis(["keygen", "--out", key])).code, 0);
  r = await aegis(["sign", file, "--key", `${key}.pub`]);
  assert.equal(r.code, 5);
  assert.doesNotMatch(r.stderr, /internal error/);
});

test("bom writes a CycloneDX 1.6 document", async () => {
  const out = join(tmp, "bom.json");
  const r = await aegis(["bom", "models/mnist-cnn.onnx", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const bom = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(bom.specVersion, "1.6");
  assert.equal(bom.components[0].type, "machine-learning-model");
});
