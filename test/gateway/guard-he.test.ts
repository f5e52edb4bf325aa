/**
 * Encrypted prediction behind the guard (issue 20): an `he:` route serves `aegis he compile`'s
 * model with the guard's API keys, roles, rate limits and audit log in front, on a real
 * socket. The client's answer decrypts to the plaintext model's; the audit log holds one entry
 * per request with the ciphertext's hash, and nothing of the input.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createRng } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { SqliteAuditLog } from "../../src/gateway/audit-log/sqlite.js";
import { createApiKey } from "../../src/gateway/auth/api-keys.js";
import { startGuard } from "../../src/gateway/guard.js";
import { compileModel, evaluatePlain, generateKeys, HE_CONTENT_TYPE, HeClient, type HePublicParams, writeHeModel } from "../../src/privacy/index.js";

test("the guard serves encrypted prediction: auth and roles first, the answer decrypts to the plaintext model's, the audit log keeps only hashes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-guard-he-"));
  const rng = createRng(5);
  const x = Float32Array.from({ length: 6 * 4 }, () => rng.normal());
  const compiled = compileModel(buildArchitecture("linear", { inputShape: [6], numClasses: 3, seed: 4 }), {
    name: "lr",
    calibration: x,
    calibrationSamples: 4,
    packing: "batch",
  });
  writeHeModel(join(dir, "lr.he.json"), compiled);
  const keysFile = join(dir, "keys.json");
  const clinic = createApiKey(keysFile, { name: "clinic", roles: ["he"] }).key;
  const other = createApiKey(keysFile, { name: "other", roles: ["predict"] }).key;
  writeFileSync(
    join(dir, "guard.yaml"),
    `server: { port: 0 }
auth: { apiKeys: keys.json }
auditLog: { path: audit.db }
routes:
  - name: lr-encrypted
    he: lr.he.json
    roles: [he]
`,
  );
  const guard = await startGuard(join(dir, "guard.yaml"));
  try {
    const call = (path: string, key: string | undefined, body?: Uint8Array) =>
      fetch(`${guard.url}/v1/he/lr-encrypted${path}`, {
        method: body ? "POST" : "GET",
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body ? { "content-type": HE_CONTENT_TYPE } : {}) },
        body: body && new Uint8Array(body),
      });
    assert.equal((await call("/params", undefined)).status, 401, "no credentials, no parameters");
    assert.equal((await call("/params", other)).status, 403, "a key without the route's role");
    const params = await call("/params", clinic);
    assert.equal(params.status, 200);
    const keys = await generateKeys((await params.json()) as HePublicParams);
    assert.equal((await call("/keys", other, keys.publicKeys)).status, 403, "keys are refused before they are read");
    const registered = await call("/keys", clinic, keys.publicKeys);
    assert.equal(registered.status, 200, await registered.clone().text());

    const client = await HeClient.open(keys.secretKey);
    const request = client.encrypt(x, 4);
    const answer = await call(":infer", clinic, request);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("content-type"), HE_CONTENT_TYPE);
    const { outputs } = client.decrypt(new Uint8Array(await answer.arrayBuffer()));
    const plain = evaluatePlain(compiled.stages, Float64Array.from(x), 4);
    for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(outputs[i] - plain[i]) < 1e-3, `output ${i}: ${outputs[i]} vs ${plain[i]}`);
    client.release();
  } finally {
    await guard.close();
  }

  const log = new SqliteAuditLog(join(dir, "audit.db"), { readonly: true });
  const entries = [...log.entries()].map((e) => JSON.parse(e.data) as { route?: string; status: number; payloadHash?: string });
  log.close();
  const served = entries.filter((e) => e.route === "lr-encrypted" && e.status === 200);
  assert.equal(served.length, 3, "params, keys and the prediction");
  assert.ok(
    served.slice(1).every((e) => /^[0-9a-f]{64}$/.test(e.payloadHash ?? "")),
    "uploads are logged by hash",
  );
  const logged = entries.map((e) => JSON.stringify(e)).join("\n");
  for (const value of x.slice(0, 6)) assert.ok(!logged.includes(value.toFixed(4)), "no input value in the log");
});
