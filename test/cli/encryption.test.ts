/**
 * `aegis encrypt` / `decrypt` through the real binary, and encrypted models served by
 * `aegis serve` and the guard: the same answers as the plaintext model, and no plaintext
 * byte of the model written anywhere in the folder being watched.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadMnist } from "../../src/data/mnist.js";
import { startGuard } from "../../src/gateway/guard.js";
import { sliceRows } from "../../src/tensor.js";
import { aegis, exited, startAegis } from "../helpers/cli.js";

const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
const plaintext = readFileSync(modelPath);
const tmp = mkdtempSync(join(tmpdir(), "aegis-encrypt-cli-"));
const instances = Array.from({ length: 3 }, (_, i) => Array.from(sliceRows(loadMnist().test.x, i, i + 1).data));

/** Every file under `dir` that holds a 64-byte run of the model's weights (from the middle of the file, so not a shared ONNX header). */
function plaintextCopies(dir: string): string[] {
  const probe = plaintext.subarray(plaintext.length >> 1, (plaintext.length >> 1) + 64);
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => {
    try {
      return readFileSync(join(dir, f)).includes(probe);
    } catch {
      return false; // a folder
    }
  });
}

async function predict(url: string, route: string): Promise<unknown> {
  const r = await fetch(`${url}/v1/models/${route}:predict`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ instances }),
  });
  assert.equal(r.status, 200);
  return r.json();
}

/** A folder with the encrypted model and its key, and a watcher that records every file event in it from now on. */
async function encryptedFolder(name: string) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const r = await aegis(["encrypt", modelPath, "--key-file", join(dir, "model.key"), "--new-key", "--out", join(dir, "mnist-cnn.onnx.aegis")]);
  assert.equal(r.code, 0, r.stderr);
  const events: string[] = [];
  const watcher = watch(dir, { recursive: true }, (event, file) => events.push(`${event} ${file}`));
  // The child's TMPDIR: other tools write there (tsx's compile cache, the sandbox's own files), so it is checked by content.
  const scratch = join(tmp, `${name}-tmp`);
  mkdirSync(scratch);
  return { dir, scratch, key: join(dir, "model.key"), model: join(dir, "mnist-cnn.onnx.aegis"), events, watcher };
}

test("encrypt then decrypt gives the model back byte for byte; a flipped bit or a cut file exits 12 and writes nothing", async () => {
  const dir = join(tmp, "roundtrip");
  mkdirSync(dir);
  const model = join(dir, "mnist-cnn.onnx");
  copyFileSync(modelPath, model);
  const key = join(dir, "k.key");
  let r = await aegis(["encrypt", model, "--key-file", key, "--new-key"]);
  assert.equal(r.code, 0, r.stderr);
  const sealed = readFileSync(`${model}.aegis`);
  // The probe finds the plaintext copy and not the encrypted one.
  assert.deepEqual(plaintextCopies(dir), ["mnist-cnn.onnx"]);

  r = await aegis(["decrypt", `${model}.aegis`, "--key-file", key]);
  assert.equal(r.code, 2, "refuses to overwrite the plaintext beside it");
  assert.match(r.stderr, /exists; give --force/);
  r = await aegis(["decrypt", `${model}.aegis`, "--out", join(dir, "back.onnx")], { env: { AEGIS_KEY_FILE: key } });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(join(dir, "back.onnx")).equals(plaintext));

  const flipped = Buffer.from(sealed);
  flipped[flipped.length >> 1] ^= 4;
  writeFileSync(`${model}.aegis`, flipped);
  r = await aegis(["decrypt", `${model}.aegis`, "--key-file", key, "--out", join(dir, "never.onnx")]);
  assert.equal(r.code, 12);
  assert.match(r.stderr, /^aegis: .*mnist-cnn\.onnx\.aegis: chunk \d+ of \d+ does not verify .* it is refused/);
  writeFileSync(`${model}.aegis`, sealed.subarray(0, sealed.length - 20));
  r = await aegis(["inspect", `${model}.aegis`], { env: { AEGIS_KEY_FILE: key } });
  assert.equal(r.code, 12);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  assert.equal(existsSync(join(dir, "never.onnx")), false);

  // An X25519 identity: encrypted for its recipient, read with the identity alone.
  r = await aegis(["encrypt", join(dir, "back.onnx"), "--new-identity", join(dir, "ops.id")]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(readFileSync(join(dir, "ops.id.pub"), "utf8"), /^aegis-recipient-1:/);
  r = await aegis(["inspect", join(dir, "back.onnx.aegis"), "--json"], { env: { AEGIS_KEY_FILE: join(dir, "ops.id") } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).inputs[0].name, "input");

  r = await aegis(["inspect", `${model}.aegis`], { env: { AEGIS_KEY: "" } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is encrypted; reading it needs a key: give --key-file, or set AEGIS_KEY or AEGIS_KEY_FILE/);
});

test("aegis serve answers from an encrypted model exactly as from the plaintext one, and writes no plaintext", async () => {
  const folder = await encryptedFolder("serve");
  const served = await startAegis(
    ["serve", "--model", modelPath, folder.model, "--name", "plain", "sealed", "--key-file", folder.key, "--port", "0", "--log-level", "off"],
    /serving sealed at (http:\/\/[^/]+)\//,
    { cwd: folder.dir, env: { TMPDIR: folder.scratch } },
  );
  const sealed = await predict(served.url, "sealed");
  assert.deepEqual(sealed, await predict(served.url, "plain"));
  served.child.kill("SIGTERM");
  assert.deepEqual(await exited(served.child), { code: 0, signal: null });
  folder.watcher.close();
  assert.deepEqual(folder.events, []);
  assert.deepEqual(plaintextCopies(folder.dir), []);
  assert.deepEqual(plaintextCopies(folder.scratch), []);
});

test("the guard serves an encrypted model given the key in the environment, and writes no plaintext", async () => {
  const folder = await encryptedFolder("guard");
  const state = join(tmp, "guard-state");
  mkdirSync(state);
  const config = join(state, "guard.yaml");
  writeFileSync(
    config,
    `server: { port: 0 }\nauth: { anonymousRoles: [predict] }\nauditLog: { path: audit.db }\nroutes:\n  - { name: plain, model: ${modelPath} }\n  - { name: sealed, model: ${folder.model} }\n`,
  );
  const saved = process.env.AEGIS_KEY_FILE;
  process.env.AEGIS_KEY_FILE = folder.key;
  try {
    const guard = await startGuard(config, { logLevel: false });
    try {
      assert.deepEqual(await predict(guard.url, "sealed"), await predict(guard.url, "plain"));
    } finally {
      await guard.close();
    }
  } finally {
    if (saved === undefined) delete process.env.AEGIS_KEY_FILE;
    else process.env.AEGIS_KEY_FILE = saved;
  }
  folder.watcher.close();
  assert.deepEqual(folder.events, []);
  assert.deepEqual(plaintextCopies(folder.dir), []);
});
