/**
 * The dashboard in Debian's Chromium: sign in with an admin key, watch a blocked
 * extraction attack appear (refusals, top clients, the incident, the alarm), resolve the
 * incident with its button, and find the attacker's requests in the audit-log search.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { jacobianAugmentationStream } from "../../bench/extraction-streams.js";
import { loadMnist } from "../../src/data/mnist.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { createApiKey } from "../../src/gateway/auth/api-keys.js";
import { type RunningGuard, startGuard } from "../../src/gateway/guard.js";
import { openPage } from "../helpers/chromium.js";

const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
let guard: RunningGuard;
let adminKey: string;
let attackerKey: string;
let userKey: string;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-dashboard-"));
  const keys = join(dir, "keys.json");
  adminKey = createApiKey(keys, { name: "ops", roles: ["admin"] }).key;
  attackerKey = createApiKey(keys, { name: "scraper", roles: ["predict"] }).key;
  userKey = createApiKey(keys, { name: "user", roles: ["predict"] }).key;
  writeFileSync(
    join(dir, "guard.yaml"),
    `server: { port: 0 }
auth: { apiKeys: keys.json }
auditLog: { path: audit.db }
incidents:
  rules: [{ detector: prada, action: block, durationSeconds: 3600 }]
routes:
  - name: digits
    model: ${modelPath}
    roles: [predict]
    detectors: { prada: {} }
`,
  );
  guard = await startGuard(join(dir, "guard.yaml"));
});

after(async () => {
  await guard.close();
});

async function send(key: string, rows: readonly Float32Array[]) {
  const res = await fetch(`${guard.url}/v1/models/digits:predict`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ instances: rows.map((r) => Array.from(r)) }),
  });
  await res.arrayBuffer();
  return res.status;
}

test("an admin signs in, sees the blocked attack and resolves its incident; a non-admin cannot sign in", async () => {
  const { browser, page, errors, fetched } = await openPage(`${guard.url}/dashboard`);
  try {
    await page.fill("#key", userKey);
    await page.click("button[type=submit]");
    await page.waitForSelector("#error:has-text('needs one of the roles admin')");

    await page.fill("#key", adminKey);
    await page.click("button[type=submit]");
    await page.waitForSelector("#app:not(.hidden)");
    assert.equal(await page.textContent("#open"), "0");

    const model = await OnnxClassifier.fromFile(modelPath);
    const seeds = Array.from({ length: 20 }, (_, i) => loadMnist().train.x.data.slice(i * 784, (i + 1) * 784));
    const stream = await jacobianAugmentationStream(model, seeds, 600);
    await model.release();
    let blocked = false;
    for (let sent = 0; sent < stream.length && !blocked; sent += 10) blocked = (await send(attackerKey, stream.slice(sent, sent + 10))) === 403;
    assert.ok(blocked, "the scraper was blocked");
    for (let i = 0; i < 3; i++) assert.equal(await send(attackerKey, [stream[0]]), 403);

    // The page polls every 2 s: the incident, the refusals and the alarm appear without a reload.
    await page.waitForSelector("#incidents tbody tr button[data-incident='1']", { timeout: 10_000 });
    assert.equal(await page.textContent("#open"), "1");
    const refusals = await page.$$eval("#refusals tbody tr", (rows) => rows.map((r) => r.textContent));
    assert.ok(
      refusals.some((r) => r?.includes("incident") && r.includes("prada")),
      refusals.join(" | "),
    );
    const clients = await page.$$eval("#clients tbody tr td:first-child", (cells) => cells.map((c) => c.textContent));
    assert.ok(clients.some((c) => /^key:[0-9a-f]{12}$/.test(c ?? "")));
    assert.match((await page.textContent("#alarms tbody")) ?? "", /prada/);

    await page.click("#incidents tbody button[data-incident='1']");
    await page.waitForFunction(() => document.querySelector("#open")?.textContent === "0", undefined, { timeout: 10_000 });
    assert.equal(await send(attackerKey, [stream[0]]), 200, "resolving on the dashboard lifted the block");

    await page.fill("#q", "prada");
    await page.click("#search button");
    // The table already lists the latest entries: wait for the search's answer to replace them.
    await page
      .waitForFunction(
        () => [...document.querySelectorAll("#entries tbody tr td:last-child")].some((c) => c.textContent?.includes("incident:block(prada)")),
        undefined,
        { timeout: 10_000 },
      )
      .catch(() => undefined);
    const decisions = await page.$$eval("#entries tbody tr td:last-child", (cells) => cells.map((c) => c.textContent ?? ""));
    assert.ok(
      decisions.some((d) => d.includes("incident:block(prada)")),
      decisions.slice(0, 5).join(" | "),
    );
    assert.deepEqual(errors, []);
    assert.ok(
      fetched.every((u) => u.startsWith(guard.url)),
      "the page loads nothing from elsewhere",
    );
  } finally {
    await browser.close();
  }
});
