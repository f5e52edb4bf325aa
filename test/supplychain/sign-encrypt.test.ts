/**
 * Signing and encryption compose (issue 25): sign a model, then encrypt it, then delete the
 * plaintext. Its signature is found beside the encrypted file, verifies on the plaintext
 * decrypted in memory, and catches another model encrypted under the same name; without the
 * key the user is told to give it. `aegis verify` does the same from the command line.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { createKeyFile, encryptFile } from "../../src/encryption/index.js";
import { isAegisError } from "../../src/errors.js";
import { generateKeys, signatureOf, signModel, verifyModelSignature } from "../../src/supplychain/index.js";
import { aegis } from "../helpers/cli.js";

const demo = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));

test("sign, then encrypt: the signature verifies after decryption in memory, and catches a substituted model", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-sign-encrypt-"));
  const model = join(dir, "digits.onnx");
  copyFileSync(demo, model);
  const pub = generateKeys("ed25519", join(dir, "signer")).publicKey;
  await signModel(model, join(dir, "signer"), `${model}.sig`);
  const key = createKeyFile(join(dir, "digits.key"));
  encryptFile(model, `${model}.aegis`, [key]);
  rmSync(model);

  const encrypted = `${model}.aegis`;
  assert.equal(signatureOf(encrypted), `${model}.sig`, "the plaintext's signature, since the encrypted file has none of its own");
  const verified = await verifyModelSignature(encrypted, signatureOf(encrypted), pub, { key });
  assert.deepEqual(verified, { valid: true, added: [], removed: [], changed: [] });

  await assert.rejects(verifyModelSignature(encrypted, signatureOf(encrypted), pub), (e: unknown) => {
    assert.ok(isAegisError(e) && e.code === "BAD_OPTION");
    assert.match((e as Error).message, /made before it was encrypted.*give its key/);
    return true;
  });

  const cli = await aegis(["verify", encrypted, "--pub", pub, "--key-file", join(dir, "digits.key")]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^OK: /);

  // Another model, encrypted under the signed one's name with the same key.
  const bytes = readFileSync(demo);
  bytes[bytes.length - 1] ^= 1;
  rmSync(encrypted);
  writeFileSync(join(dir, "other.onnx"), bytes);
  encryptFile(join(dir, "other.onnx"), encrypted, [key], { name: "digits.onnx" });
  const substituted = await verifyModelSignature(encrypted, signatureOf(encrypted), pub, { key });
  assert.equal(substituted.valid, false);
  assert.deepEqual(substituted.changed, ["digits.onnx"]);
  const refused = await aegis(["verify", encrypted, "--pub", pub, "--key-file", join(dir, "digits.key")]);
  assert.equal(refused.code, 12);
});
