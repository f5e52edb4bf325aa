/** Model signing: DSSE PAE against the spec, sign → verify for both key types, and every kind of tampering named. */
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { AegisError } from "../../src/errors.js";
import { generateKeys, type KeyType, PREDICATE_TYPE, pae, signModel, verifyModelSignature } from "../../src/supplychain/signing/index.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-signing-"));

function modelDir(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, "weights"), { recursive: true });
  writeFileSync(join(dir, "model.onnx"), "graph bytes");
  writeFileSync(join(dir, "config.json"), '{"layers": 3}');
  writeFileSync(join(dir, "weights", "part-0.bin"), Buffer.alloc(1000, 7));
  return dir;
}

function keys(type: KeyType): { key: string; pub: string } {
  const key = join(tmp, `${type}-${Math.random().toString(36).slice(2)}.key`);
  return { key, pub: generateKeys(type, key).publicKey };
}

test("PAE matches the DSSE v1 specification's test vector", () => {
  assert.equal(
    Buffer.from(pae("http://example.com/HelloWorld", Buffer.from("hello world"))).toString(),
    "DSSEv1 29 http://example.com/HelloWorld 11 hello world",
  );
  // Lengths are in bytes, not characters.
  assert.equal(Buffer.from(pae("t", Buffer.from("é"))).toString(), "DSSEv1 1 t 2 é");
});

for (const type of ["ed25519", "ecdsa-p256"] as const) {
  test(`${type}: a signed folder verifies, and tampering, additions and removals are named`, async () => {
    const dir = modelDir(`model-${type}`);
    const { key, pub } = keys(type);
    assert.equal(statSync(key).mode & 0o777, 0o600);
    const sig = join(dir, "model.sig");
    const bundle = await signModel(dir, key, sig);
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString());
    assert.equal(bundle.dsseEnvelope.payloadType, "application/vnd.in-toto+json");
    assert.equal(statement._type, "https://in-toto.io/Statement/v1");
    assert.equal(statement.predicateType, PREDICATE_TYPE);
    assert.deepEqual(
      statement.predicate.resources.map((r: { name: string }) => r.name),
      ["config.json", "model.onnx", "weights/part-0.bin"],
    );

    assert.deepEqual(await verifyModelSignature(dir, sig, pub), { valid: true, added: [], removed: [], changed: [] });

    // One byte changed.
    const weights = join(dir, "weights", "part-0.bin");
    const original = readFileSync(weights);
    const flipped = Buffer.from(original);
    flipped[500] ^= 1;
    writeFileSync(weights, flipped);
    let r = await verifyModelSignature(dir, sig, pub);
    assert.equal(r.valid, false);
    assert.deepEqual([r.added, r.removed, r.changed], [[], [], ["weights/part-0.bin"]]);
    writeFileSync(weights, original);

    // A file added, another removed; .git is never part of the model.
    mkdirSync(join(dir, ".git"));
    writeFileSync(join(dir, ".git", "HEAD"), "ref");
    writeFileSync(join(dir, "extra.py"), "import os");
    rmSync(join(dir, "config.json"));
    r = await verifyModelSignature(dir, sig, pub);
    assert.equal(r.valid, false);
    assert.deepEqual([r.added, r.removed, r.changed], [["extra.py"], ["config.json"], []]);
  });
}

test("a signature checked with another public key is invalid", async () => {
  const dir = modelDir("wrong-key");
  const signer = keys("ed25519");
  const other = keys("ecdsa-p256");
  const sig = join(tmp, "wrong-key.sig");
  await signModel(dir, signer.key, sig);
  const r = await verifyModelSignature(dir, sig, other.pub);
  assert.equal(r.valid, false);
  assert.match(r.reason ?? "", /private key/);
});

test("an edited payload (a digest swapped in the statement) fails the signature check", async () => {
  const dir = modelDir("payload-edit");
  const { key, pub } = keys("ed25519");
  const sig = join(tmp, "payload-edit.sig");
  const bundle = await signModel(dir, key, sig);
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString());
  statement.predicate.resources[0].digest = "0".repeat(64);
  bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
  writeFileSync(sig, JSON.stringify(bundle));
  assert.equal((await verifyModelSignature(dir, sig, pub)).valid, false);
});

test("a single file signs and verifies by its base name", async () => {
  const file = join(tmp, "single.onnx");
  writeFileSync(file, "weights");
  const { key, pub } = keys("ecdsa-p256");
  await signModel(file, key, `${file}.sig`);
  assert.equal((await verifyModelSignature(file, `${file}.sig`, pub)).valid, true);
  appendFileSync(file, "!");
  assert.deepEqual((await verifyModelSignature(file, `${file}.sig`, pub)).changed, ["single.onnx"]);
});

test("bad key and signature files are typed errors", async () => {
  const dir = modelDir("bad-files");
  const { key, pub } = keys("ed25519");
  const sig = join(tmp, "bad-files.sig");
  await signModel(dir, key, sig);
  const garbage = join(tmp, "garbage.pem");
  writeFileSync(garbage, "not a key");
  await assert.rejects(verifyModelSignature(dir, sig, garbage), (e: AegisError) => e.code === "BAD_DATA");
  await assert.rejects(verifyModelSignature(dir, sig, join(tmp, "missing.pub")), (e: AegisError) => e.code === "FILE_NOT_FOUND");
  await assert.rejects(verifyModelSignature(dir, garbage, pub), (e: AegisError) => e.code === "BAD_DATA");
  await assert.rejects(signModel(dir, pub, sig), (e: AegisError) => e.code === "BAD_DATA");
  assert.throws(
    () => generateKeys("ed25519", key),
    (e: AegisError) => e.code === "BAD_OPTION",
  );
});
