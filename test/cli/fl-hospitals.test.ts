/**
 * The README's five-hospital walk-through, end to end: `aegis fl split` cuts the shipped
 * breast-cancer table into five non-IID hospitals, `aegis train` trains the same model
 * centrally, and `aegis fl server` with examples/fl-hospitals.yaml federates the five
 * `aegis fl client` processes. The server and every hospital run in their own network
 * namespace (ip netns, so the test runs as root, as .ci/run does); each hospital reaches the
 * server only over its own veth pair. The federated model must come within 2 points of
 * centralised training, and the server's round report must say what every round did.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadDataset, saveNpz } from "../../src/data/index.js";
import { countCorrect, OnnxClassifier } from "../../src/engine/index.js";
import { loadModel } from "../../src/onnx/io.js";
import { float32, labelsOf, tensor } from "../../src/tensor.js";
import { selfSignedCertificate } from "../helpers/certificate.js";
import { openReport } from "../helpers/chromium.js";
import { aegis, exited } from "../helpers/cli.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(repo, "bin/aegis.js");
const HOSPITALS = [1, 2, 3, 4, 5].map((k) => `hospital-${k}`);
const prefix = `aegis-fl-${process.pid}`;
const serverNs = `${prefix}-srv`;
const hospitalNs = (k: number) => `${prefix}-h${k + 1}`;
/** Hospital k's link: the server's end is 10.19.(k+1).1, the hospital's .2. */
const serverAddress = (k: number) => `10.19.${k + 1}.1`;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

/** Every process this file starts in a namespace, stopped at the end should a failed assertion leave it running. */
const started: ChildProcess[] = [];

after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const ns of [serverNs, ...HOSPITALS.map((_, k) => hospitalNs(k))]) {
    try {
      ip("netns", "delete", ns);
    } catch {
      // Not created: the test failed before it got there.
    }
  }
});

/** A namespace for the server and one per hospital, each hospital joined to the server by a veth pair. */
function buildNetwork(): void {
  assert.equal(process.getuid?.(), 0, "this test makes network namespaces with ip netns and needs root (.ci/run runs as root)");
  ip("netns", "add", serverNs);
  ip("-n", serverNs, "link", "set", "lo", "up");
  for (const k of HOSPITALS.keys()) {
    const ns = hospitalNs(k);
    ip("netns", "add", ns);
    ip("link", "add", `h${k + 1}`, "netns", serverNs, "type", "veth", "peer", "name", "eth0", "netns", ns);
    ip("-n", serverNs, "addr", "add", `${serverAddress(k)}/24`, "dev", `h${k + 1}`);
    ip("-n", ns, "addr", "add", `10.19.${k + 1}.2/24`, "dev", "eth0");
    ip("-n", serverNs, "link", "set", `h${k + 1}`, "up");
    ip("-n", ns, "link", "set", "eth0", "up");
  }
}

/** `aegis …` inside namespace `ns`, its stderr collected. */
function inNamespace(ns: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; log: () => string } {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, bin, ...args], { env: { ...process.env, FORCE_COLOR: "0", ...env } });
  started.push(child);
  let log = "";
  child.stderr?.on("data", (d) => {
    log += d;
  });
  child.stdout?.resume();
  return { child, log: () => log };
}

/** The named namespace a process runs in, once `ip netns exec` has entered it. */
async function namespaceOf(child: ChildProcess): Promise<string> {
  for (let tries = 0; tries < 100; tries++) {
    const name = ip("netns", "identify", String(child.pid)).trim();
    if (name !== "") return name;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return "";
}

async function accuracyOf(model: string, data: string): Promise<number> {
  const test = loadDataset(data);
  const labels = labelsOf(test.y as NonNullable<typeof test.y>);
  const classifier = await OnnxClassifier.create(loadModel(model));
  const correct = countCorrect(await classifier.predict(test.x), labels);
  await classifier.release();
  return correct / labels.length;
}

// The timeout only turns a hung federation into a failure; 20 rounds take well under a minute.
test("five hospitals, each in its own network namespace, train the breast-cancer classifier to within 2 points of centralised training", {
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-fl-hospitals-"));
  const split = await aegis(["fl", "split", "--data", join(repo, "data/breast-cancer/wdbc.csv"), "--standardise", "--out", dir, "--json"]);
  assert.equal(split.code, 0, split.stderr);
  const files = JSON.parse(split.stdout).files as { file: string; rows: number; perClass: number[] }[];
  const shares = files.slice(0, 5).map((f) => f.perClass[0] / f.rows);
  assert.ok(Math.max(...shares) - Math.min(...shares) > 0.3, `the hospitals' malignant shares differ (non-IID): ${shares.map((s) => s.toFixed(2))}`);

  // The same logistic regression trained centrally on the union of the hospitals' rows, as the README does.
  const trainCentrally = ["train", "--arch", "linear", "--data", join(dir, "train.npz"), "--epochs", "30", "--lr", "0.01"];
  const central = await aegis([...trainCentrally, "--test-data", join(dir, "test.npz"), "--out", join(dir, "central.onnx")]);
  assert.equal(central.code, 0, central.stderr);
  const centralAccuracy = await accuracyOf(join(dir, "central.onnx"), join(dir, "test.npz"));

  buildNetwork();
  selfSignedCertificate(dir, HOSPITALS.map((_, k) => `IP:${serverAddress(k)}`).join(","));
  const config = join(dir, "fl.yaml");
  copyFileSync(join(repo, "examples/fl-hospitals.yaml"), config);
  const tokens = HOSPITALS.map((id) => `${id}-${process.pid}-token-${"z".repeat(16)}`);
  const example = readFileSync(config, "utf8").replace("host: 127.0.0.1", "host: 0.0.0.0");
  const clients = HOSPITALS.map((id, k) => `  ${id}: { tokenSha256: ${createHash("sha256").update(tokens[k]).digest("hex")} }`);
  writeFileSync(config, `${example}${clients.join("\n")}\n`);

  const server = inNamespace(serverNs, ["fl", "server", "--config", config]);
  const hospitals = HOSPITALS.map((id, k) =>
    inNamespace(
      hospitalNs(k),
      ["fl", "client", "--server", `https://${serverAddress(k)}:8443`, "--id", id, "--data", join(dir, `${id}.npz`), "--ca", join(dir, "server.crt")],
      { AEGIS_FL_TOKEN: tokens[k] },
    ),
  );
  // Each hospital's process lives in its own namespace, where only its own link leads anywhere.
  for (const [k, h] of hospitals.entries()) assert.equal(await namespaceOf(h.child), hospitalNs(k));
  const otherLink = spawn("ip", [
    "netns",
    "exec",
    hospitalNs(0),
    process.execPath,
    "-e",
    `require("net").connect(8443, "${serverAddress(1)}").on("error", (e) => console.log(e.code))`,
  ]);
  let unreachable = "";
  otherLink.stdout.on("data", (d) => {
    unreachable += d;
  });
  await exited(otherLink);
  assert.match(unreachable, /ENETUNREACH/, "hospital-1 cannot reach the server's address on hospital-2's link");

  for (const [k, h] of hospitals.entries()) assert.equal((await exited(h.child)).code, 0, `${HOSPITALS[k]}: ${h.log()}`);
  assert.equal((await exited(server.child)).code, 0, server.log());

  const state = JSON.parse(readFileSync(join(dir, "fl-state", "state.json"), "utf8"));
  assert.equal(state.history.length, 20);
  for (const r of state.history) assert.deepEqual(r.clients, HOSPITALS, `round ${r.round} counted every hospital`);
  const federatedAccuracy = await accuracyOf(join(dir, "fl-state", "global.onnx"), join(dir, "test.npz"));
  console.log(`centralised ${(centralAccuracy * 100).toFixed(2)}%, federated ${(federatedAccuracy * 100).toFixed(2)}%`);
  assert.ok(centralAccuracy > 0.93, `centralised training reaches ${centralAccuracy}`);
  assert.ok(federatedAccuracy >= centralAccuracy - 0.02, `federated ${federatedAccuracy} against centralised ${centralAccuracy}`);

  // The round report: every round, the validation accuracy the server measured on test.npz.
  const log = JSON.parse(readFileSync(join(dir, "fl-state", "fl-rounds.json"), "utf8"));
  assert.deepEqual(
    log.rounds.map((r: { round: number }) => r.round),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.equal(log.rounds.at(-1).validation.accuracy, federatedAccuracy);
  assert.equal(log.setting.secureAggregation, false);
  assert.ok(log.initial.accuracy < federatedAccuracy, `training improved on the initial model (${log.initial.accuracy})`);
  assert.equal(log.setting.validation.rows, files[6].rows);
  const html = join(dir, "fl-state", "fl-rounds.html");
  assert.ok(existsSync(html));
  const { browser, page, fetched, errors } = await openReport(html);
  try {
    assert.equal(await page.locator("tbody tr[data-round]").count(), 21, "the initial model, then 20 rounds");
    assert.match((await page.locator('tr[data-round="0"]').textContent()) ?? "", /the initial model/);
    assert.match(
      ((await page.locator(".card", { hasText: "validation accuracy" }).textContent()) ?? "").replace(/\s+/g, " "),
      new RegExp(`${(federatedAccuracy * 100).toFixed(1)}%`),
    );
    assert.equal(await page.locator("svg.chart").count(), 2);
    assert.equal(await page.locator(".finding", { hasText: "FL-SERVER-SEES-UPDATES" }).count(), 1);
    assert.deepEqual(fetched, []);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("fl.yaml's validation data must fit the model, and is refused before any round when it does not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-fl-hospitals-"));
  const split = await aegis(["fl", "split", "--data", join(repo, "data/breast-cancer/wdbc.csv"), "--clients", "2", "--arch", "mlp", "--out", dir]);
  assert.equal(split.code, 0, split.stderr);
  assert.match(split.stdout, /\| .*hospital-2\.npz \| \d+ \| \d+ \| \d+ \|/);
  saveNpz(join(dir, "narrow.npz"), { x: float32([4, 3]), y: tensor("int64", [4], new BigInt64Array(4)) });
  const config = join(dir, "fl.yaml");
  writeFileSync(
    config,
    `model: initial.onnx\ntls: { cert: none.crt, key: none.key }\nvalidation: narrow.npz\nclients:\n  hospital-1: { tokenSha256: ${"a".repeat(64)} }\n`,
  );
  const refused = await aegis(["fl", "server", "--config", config]);
  assert.equal(refused.code, 6, refused.stderr);
  assert.match(refused.stderr, /validation data .*narrow\.npz does not fit .*initial\.onnx: the data's samples have shape \[3\] but the model expects \[30\]/);
  assert.ok(!existsSync(join(dir, "fl-state", "fl-rounds.html")), "no report for a server that never started");
});
