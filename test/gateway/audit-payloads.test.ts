/**
 * Encrypted audit payloads (issue 25): with `auditLog.payloads: encrypt` the guard keeps
 * each request body encrypted to an X25519 recipient. The log holds no plaintext, its hash
 * chain verifies without any key, `aegis audit-log export --identity` gives the bodies back
 * exactly, and a payload moved to another entry does not decrypt as that entry's.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { createIdentityFile, decryptBytes, readKeyFile } from "../../src/encryption/index.js";
import { createApiKey, payloadName, SqliteAuditLog, startGuard } from "../../src/gateway/index.js";
import { aegis } from "../helpers/cli.js";

const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));

test("payloads encrypted to a recipient: nothing readable in the log, the chain verifies without the key, export --identity restores each body", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-audit-payloads-"));
  createIdentityFile(join(dir, "ops.id"));
  const key = createApiKey(join(dir, "keys.json"), { name: "app", roles: ["predict"] }).key;
  writeFileSync(
    join(dir, "guard.yaml"),
    `server: { port: 0 }
auth: { apiKeys: keys.json }
auditLog: { path: audit.db, payloads: encrypt, recipients: [ops.id.pub] }
routes:
  - name: digits
    model: ${modelPath}
    roles: [predict]
`,
  );
  // A value that appears nowhere but in the bodies.
  const bodies = [0.123457, 0.654321].map((v) => JSON.stringify({ instances: [Array.from({ length: 784 }, (_, i) => (i === 0 ? v : 0))] }));
  const guard = await startGuard(join(dir, "guard.yaml"));
  try {
    for (const body of bodies) {
      const res = await fetch(`${guard.url}/v1/models/digits:predict`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body,
      });
      assert.equal(res.status, 200);
    }
  } finally {
    await guard.close();
  }

  const log = new SqliteAuditLog(join(dir, "audit.db"), { readonly: true });
  const entries = [...log.entries()];
  const verdict = log.verify();
  log.close();
  assert.ok(verdict.valid, "the chain verifies with no key at all");
  const stored = entries.map((e) => JSON.parse(e.data) as { requestId: string; payload?: string; payloadHash?: string });
  const withPayload = stored.filter((e) => e.payload !== undefined);
  assert.equal(withPayload.length, 2);
  assert.ok(
    withPayload.every((e) => e.payloadHash === undefined),
    "no plaintext hash either: equal bodies would show as equal",
  );
  const raw = readFileSync(join(dir, "audit.db"));
  for (const marker of ["0.123457", "0.654321"]) assert.equal(raw.indexOf(marker), -1, `${marker} is nowhere in the database file`);

  const exported = await aegis(["audit-log", "export", "--db", join(dir, "audit.db"), "--identity", join(dir, "ops.id")]);
  assert.equal(exported.code, 0, exported.stderr);
  const lines = exported.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { payload?: string });
  assert.deepEqual(
    lines.filter((l) => l.payload !== undefined).map((l) => l.payload),
    bodies,
  );

  // Bound to its request: the first entry's payload under the second's request id is refused.
  const identity = readKeyFile(join(dir, "ops.id"));
  assert.throws(
    () => decryptBytes(Buffer.from(withPayload[0].payload ?? "", "base64"), identity, `${payloadName(withPayload[1].requestId)}.aegis`),
    /encrypted as/,
  );
});

test("payloads: encrypt without a recipient is refused at load, naming the key", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-audit-payloads-"));
  writeFileSync(
    join(dir, "guard.yaml"),
    `auth: { anonymousRoles: [predict] }\nauditLog: { payloads: encrypt }\nroutes:\n  - { name: digits, model: ${modelPath} }\n`,
  );
  await assert.rejects(startGuard(join(dir, "guard.yaml")), /auditLog\.recipients.*at least one recipient/);
});
