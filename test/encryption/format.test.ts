/** The chunked AES-256-GCM format: byte-identical round trips, and every kind of damage refused with its own clear error. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadDataset } from "../../src/data/index.js";
import { encodeNpz } from "../../src/data/npz.js";
import {
  createIdentityFile,
  createKeyFile,
  decryptBytes,
  decryptFile,
  encryptBytes,
  encryptFile,
  findKey,
  type Identity,
  idOf,
  parseRecipient,
  readKeyFile,
  readPlaintext,
  type SymmetricKey,
} from "../../src/encryption/index.js";
import { AegisError } from "../../src/errors.js";
import { float32 } from "../../src/tensor.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-encryption-"));
const key: SymmetricKey = { kind: "key", key: randomBytes(32) };
const CHUNK = 1024;
/** Header length field, header, HMAC: where the first chunk starts. */
const chunksStart = (sealed: Buffer) => 16 + 4 + sealed.readUInt32BE(16) + 32;

const refused = (fn: () => unknown, code: AegisError["code"], message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof AegisError && e.code === code && message.test(e.message));

test("round trips are byte-identical for empty, one-byte, chunk-edge and multi-chunk files", () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5]) {
    const plaintext = randomBytes(size);
    const sealed = encryptBytes(plaintext, [key], "m.onnx", CHUNK);
    const chunks = Math.max(1, Math.ceil(size / CHUNK));
    // Exactly one 16-byte tag per chunk: a multiple of the chunk size ends in a full final chunk, not an empty one.
    assert.equal(sealed.length, chunksStart(sealed) + size + 16 * chunks, `size ${size}`);
    assert.ok(decryptBytes(sealed, key, "m.onnx.aegis").equals(plaintext), `size ${size}`);
  }
  // Fresh file key and salt per file: the same plaintext never encrypts to the same bytes.
  const a = encryptBytes(Buffer.from("same"), [key], "m.onnx", CHUNK);
  assert.ok(!a.equals(encryptBytes(Buffer.from("same"), [key], "m.onnx", CHUNK)));
});

test("a flipped bit anywhere (magic, header, its MAC, any chunk, any tag) is refused", () => {
  const plaintext = randomBytes(3 * CHUNK + 100);
  const sealed = encryptBytes(plaintext, [key], "m.onnx", CHUNK);
  const start = chunksStart(sealed);
  const positions = [3, 17, 30, start - 32, start - 1, start, start + CHUNK + 15, start + 2 * (CHUNK + 16) + 7, sealed.length - 1];
  for (const at of positions) {
    const damaged = Buffer.from(sealed);
    damaged[at] ^= 0x10;
    assert.throws(
      () => decryptBytes(damaged, key, "m.onnx.aegis"),
      (e: unknown) =>
        e instanceof AegisError && ["INTEGRITY_FAILED", "BAD_DATA"].includes(e.code) && /altered|damaged|aegis encrypt|not verify/.test(e.message),
      `bit flipped at byte ${at}`,
    );
  }
  // The name in the header is authenticated: rewriting it (same length, so the JSON stays valid) is caught.
  const renamed = Buffer.from(sealed.toString("latin1").replace('"name":"m.onnx"', '"name":"x.onnx"'), "latin1");
  refused(() => decryptBytes(renamed, key, "x.onnx.aegis"), "INTEGRITY_FAILED", /header .* was changed/);
});

test("truncation is refused: at a chunk boundary it is named as such, and mid-chunk or inside the header too", () => {
  const sealed = encryptBytes(randomBytes(3 * CHUNK + 100), [key], "m.onnx", CHUNK);
  const start = chunksStart(sealed);
  refused(
    () => decryptBytes(sealed.subarray(0, start + 2 * (CHUNK + 16)), key, "m.onnx.aegis"),
    "INTEGRITY_FAILED",
    /is truncated: it ends after chunk 2, which is not its last/,
  );
  refused(() => decryptBytes(sealed.subarray(0, start), key, "m.onnx.aegis"), "INTEGRITY_FAILED", /truncated: it ends before its first chunk/);
  refused(() => decryptBytes(sealed.subarray(0, sealed.length - 1), key, "m.onnx.aegis"), "INTEGRITY_FAILED", /chunk 4 of 4 does not verify/);
  refused(() => decryptBytes(sealed.subarray(0, 40), key, "m.onnx.aegis"), "INTEGRITY_FAILED", /header length is out of range/);
  // Extra bytes after the final chunk are damage as well.
  refused(() => decryptBytes(Buffer.concat([sealed, Buffer.alloc(16)]), key, "m.onnx.aegis"), "INTEGRITY_FAILED", /does not verify/);
});

test("chunks cannot be reordered, the wrong key is named, and a file renamed to another's name is refused", () => {
  const sealed = encryptBytes(randomBytes(2 * CHUNK + 10), [key], "m.onnx", CHUNK);
  const start = chunksStart(sealed);
  const record = CHUNK + 16;
  const swapped = Buffer.concat([
    sealed.subarray(0, start),
    sealed.subarray(start + record, start + 2 * record),
    sealed.subarray(start, start + record),
    sealed.subarray(start + 2 * record),
  ]);
  refused(() => decryptBytes(swapped, key, "m.onnx.aegis"), "INTEGRITY_FAILED", /chunk 1 of 3 does not verify/);
  const other: SymmetricKey = { kind: "key", key: randomBytes(32) };
  refused(
    () => decryptBytes(sealed, other, "m.onnx.aegis"),
    "BAD_OPTION",
    new RegExp(`encrypted for key ${idOf(key)}, not for the key given \\(key ${idOf(other)}\\)`),
  );
  refused(() => decryptBytes(sealed, key, "fraud.onnx.aegis"), "INTEGRITY_FAILED", /was encrypted as m\.onnx but is named fraud\.onnx\.aegis/);
});

test("files stream through encryptFile/decryptFile; a failed decryption leaves no output; keys come from a file or the environment", () => {
  const keyFile = join(tmp, "k.key");
  const fileKey = createKeyFile(keyFile);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  refused(() => createKeyFile(keyFile), "BAD_OPTION", /never overwrites/);
  assert.deepEqual(findKey(undefined, { AEGIS_KEY_FILE: keyFile }), fileKey);
  assert.deepEqual(findKey(undefined, { AEGIS_KEY: readFileSync(keyFile, "utf8").trim() }), fileKey);
  assert.equal(findKey(undefined, {}), undefined);
  refused(() => findKey(undefined, { AEGIS_KEY: "hunter2" }), "BAD_OPTION", /AEGIS_KEY environment variable is not an Aegis encryption key or identity/);

  const input = join(tmp, "data.npz");
  const plaintext = randomBytes(5 * 64 * 1024 + 123);
  writeFileSync(input, plaintext);
  const sealedPath = join(tmp, "data.npz.aegis");
  encryptFile(input, sealedPath, [fileKey]);
  refused(() => encryptFile(input, join(tmp, "other.aegis"), [fileKey]), "BAD_OPTION", /must be named data\.npz\.aegis/);
  const out = join(tmp, "restored.npz");
  decryptFile(sealedPath, out, fileKey);
  assert.ok(readFileSync(out).equals(plaintext));
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.ok(readPlaintext(sealedPath, keyFile).equals(plaintext));

  const damaged = readFileSync(sealedPath);
  damaged[damaged.length - 100] ^= 1;
  writeFileSync(sealedPath, damaged);
  const out2 = join(tmp, "never.npz");
  refused(() => decryptFile(sealedPath, out2, fileKey), "INTEGRITY_FAILED", /chunk 6 of 6 does not verify/);
  assert.equal(existsSync(out2), false);
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.endsWith(".tmp")),
    [],
  );
});

test("X25519 recipients: each identity decrypts alone, beside a shared key; a stranger's identity and a changed ephemeral key are refused", () => {
  const recipients = ["alice", "bob", "eve"].map((who) => ({ who, recipient: createIdentityFile(join(tmp, `${who}.id`)) }));
  assert.equal(statSync(join(tmp, "alice.id")).mode & 0o777, 0o600);
  assert.deepEqual(parseRecipient(join(tmp, "alice.id.pub")), recipients[0].recipient);
  assert.deepEqual(parseRecipient(readFileSync(join(tmp, "bob.id.pub"), "utf8")), recipients[1].recipient);
  const identity = (who: string): Identity => readKeyFile(join(tmp, `${who}.id`));
  const plaintext = randomBytes(2 * CHUNK + 3);
  const sealed = encryptBytes(plaintext, [recipients[0].recipient, recipients[1].recipient, key], "m.onnx", CHUNK);
  for (const opener of [identity("alice"), identity("bob"), key]) assert.ok(decryptBytes(sealed, opener, "m.onnx.aegis").equals(plaintext));
  refused(
    () => decryptBytes(sealed, identity("eve"), "m.onnx.aegis"),
    "BAD_OPTION",
    new RegExp(
      `encrypted for x25519 ${idOf(recipients[0].recipient)}, x25519 ${idOf(recipients[1].recipient)}, key ${idOf(key)}, not for the identity given \\(x25519 ${idOf(recipients[2].recipient)}\\)`,
    ),
  );
  const header = sealed.subarray(20, 20 + sealed.readUInt32BE(16)).toString("utf8");
  const ephemeral = (JSON.parse(header) as { recipients: { ephemeral?: string }[] }).recipients[0].ephemeral as string;
  const swapped = Buffer.from(ephemeral, "base64");
  swapped[0] ^= 1;
  const damaged = Buffer.from(sealed.toString("latin1").replace(ephemeral, swapped.toString("base64")), "latin1");
  refused(() => decryptBytes(damaged, identity("alice"), "m.onnx.aegis"), "INTEGRITY_FAILED", /wrapped file key does not verify/);
  // Bob's entry is untouched, but the header's MAC covers Alice's too.
  refused(() => decryptBytes(damaged, identity("bob"), "m.onnx.aegis"), "INTEGRITY_FAILED", /header .* was changed/);
});

test("a data set encrypted with aegis encrypt loads in memory with the key from the environment", () => {
  const keyFile = join(tmp, "data.key");
  const dataKey = createKeyFile(keyFile);
  const x = float32([3, 2], Float32Array.from([0, 0.5, 1, 0.25, 0.75, 0.125]));
  const plain = join(tmp, "small.npz");
  writeFileSync(plain, encodeNpz({ x }));
  encryptFile(plain, `${plain}.aegis`, [dataKey]);
  const saved = { AEGIS_KEY: process.env.AEGIS_KEY, AEGIS_KEY_FILE: process.env.AEGIS_KEY_FILE };
  delete process.env.AEGIS_KEY;
  process.env.AEGIS_KEY_FILE = keyFile;
  try {
    const dataset = loadDataset(`${plain}.aegis`);
    assert.equal(dataset.name, "small.npz");
    assert.deepEqual(dataset.x.shape, [3, 2]);
    assert.deepEqual(Array.from(dataset.x.data), Array.from(x.data));
    delete process.env.AEGIS_KEY_FILE;
    refused(() => loadDataset(`${plain}.aegis`), "BAD_OPTION", /small\.npz\.aegis is encrypted; reading it needs a key/);
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});
