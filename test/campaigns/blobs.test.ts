/**
 * A shared-directory blob store (--queue-store) expires files as the campaign's Redis expires
 * inputs: the first put of a store deletes files not written for INPUT_TTL_SECONDS and keeps
 * the rest; reads stay hash-checked.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { directoryBlobs, INPUT_TTL_SECONDS, sha256 } from "../../src/campaigns/blobs.js";

test("directory blobs: the first put deletes files older than the input TTL, keeps younger ones, and each store prunes once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-blobs-"));
  const folder = join(dir, "aegis");
  mkdirSync(folder);
  const day = 24 * 3600 * 1000;
  const now = Date.now();
  const age = (name: string, ms: number) => {
    writeFileSync(join(folder, name), name);
    utimesSync(join(folder, name), new Date(now - ms), new Date(now - ms));
  };
  age("expired", INPUT_TTL_SECONDS * 1000 + day);
  age("young", INPUT_TTL_SECONDS * 1000 - day);

  const store = directoryBlobs(dir, "aegis", () => now);
  const bytes = new TextEncoder().encode("a model");
  const hash = await store.put(bytes, "a model");
  assert.equal(hash, sha256(bytes));
  assert.deepEqual(readdirSync(folder).sort(), [hash, "young"].sort());
  assert.equal((await store.get(hash, "a model")).toString("utf8"), "a model");

  // Later puts of the same store do not scan the folder again.
  age("expired-later", INPUT_TTL_SECONDS * 1000 + day);
  await store.put(new TextEncoder().encode("samples"), "samples");
  assert.ok(existsSync(join(folder, "expired-later")));
  // A new store (the next submitter or worker) does.
  await directoryBlobs(dir, "aegis", () => now).put(bytes, "a model");
  assert.ok(!existsSync(join(folder, "expired-later")));
  assert.ok(existsSync(join(folder, "young")));
});
