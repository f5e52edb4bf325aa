/**
 * `aegis fl server` and three `aegis fl client` processes over HTTPS on loopback, each
 * hospital with its own data file: an unknown token is refused, the server is killed with
 * SIGKILL in the middle of a round and restarted, it resumes from its checkpoint, and every
 * round is aggregated exactly once. The certificate is made by openssl for this test.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createRng, saveNpz } from "../../src/data/index.js";
import { buildArchitecture, countCorrect, OnnxClassifier } from "../../src/engine/index.js";
import { loadModel, saveModel } from "../../src/onnx/io.js";
import { float32, tensor } from "../../src/tensor.js";
import { selfSignedCertificate } from "../helpers/certificate.js";
import { aegis, exited, startAegis } from "../helpers/cli.js";

const root = mkdtempSync(join(tmpdir(), "aegis-fl-net-"));
const HOSPITALS = ["hospital-1", "hospital-2", "hospital-3"];
const tokenOf = (id: string) => `token-of-${id}-${"x".repeat(20)}`;

/** 8 features, class 1 when the first two sum above 1; each hospital sees a shifted slice. */
function hospitalData(k: number, n = 120) {
  const rng = createRng(k + 10);
  const x = Float32Array.from({ length: n * 8 }, (_, i) => Math.min(1, rng.next() * 0.8 + (i % 8 === 0 ? 0.1 * k : 0)));
  const y = BigInt64Array.from({ length: n }, (_, r) => (x[r * 8] + x[r * 8 + 1] > 1 ? 1n : 0n));
  return { x: float32([n, 8], x), y: tensor("int64", [n], y) };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A certificate, the initial model, the hospitals' files and an fl.yaml in a fresh folder. */
async function federation(settings: string): Promise<{ dir: string; config: string; url: string }> {
  const dir = mkdtempSync(join(root, "fed-"));
  selfSignedCertificate(dir);
  saveModel(join(dir, "initial.onnx"), buildArchitecture("linear", { inputShape: [8], numClasses: 2, seed: 1 }));
  for (const [k, id] of HOSPITALS.entries()) saveNpz(join(dir, `${id}.npz`), hospitalData(k));
  const port = await freePort();
  const clients = HOSPITALS.map((id) => `  ${id}: { tokenSha256: ${createHash("sha256").update(tokenOf(id)).digest("hex")} }`).join("\n");
  const config = join(dir, "fl.yaml");
  writeFileSync(
    config,
    `model: initial.onnx\nlisten: { host: 127.0.0.1, port: ${port} }\ntls: { cert: server.crt, key: server.key }\n${settings}\nlocal: { epochs: 5, batchSize: 16, lr: 0.5 }\ncheckpoint: state\nclients:\n${clients}\n`,
  );
  return { dir, config, url: `https://127.0.0.1:${port}` };
}

function startClient(dir: string, url: string, id: string) {
  return startAegis(["fl", "client", "--server", url, "--id", id, "--ca", join(dir, "server.crt"), "--data", join(dir, `${id}.npz`)], /./, {
    env: { AEGIS_FL_TOKEN: tokenOf(id) },
  });
}

/** Resolves with the match once the process's stderr matches. */
function waitFor(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  let log = "";
  return new Promise((resolve) => {
    child.stderr?.on("data", (d) => {
      log += d;
      const match = pattern.exec(log);
      if (match) resolve(match);
    });
  });
}

test("three hospitals train over HTTPS; a SIGKILLed server resumes from its checkpoint and counts every round once", async () => {
  const { dir, config, url } = await federation("rounds: 4\nclientsPerRound: 3\nminClients: 2\ndeadlineSeconds: 30");
  const first = await startAegis(["fl", "server", "--config", config], /listening on (https:\/\/\S+)/);
  assert.equal(first.url, url);

  const stranger = await aegis(
    ["fl", "client", "--server", url, "--id", "hospital-1", "--ca", join(dir, "server.crt"), "--data", join(dir, "hospital-1.npz")],
    {
      env: { AEGIS_FL_TOKEN: "a-token-nobody-issued" },
    },
  );
  assert.equal(stranger.code, 2, stranger.stderr);
  assert.match(stranger.stderr, /refused hospital-1 \(401\)/);

  const running = HOSPITALS.map((id) => startClient(dir, url, id).catch((e: Error) => e));
  // Kill the server as soon as round 1 is aggregated: round 2 is then open, updates in flight.
  await waitFor(first.child, /round 1 done/);
  first.child.kill("SIGKILL");
  await exited(first.child);
  const before = JSON.parse(readFileSync(join(dir, "state", "state.json"), "utf8"));
  assert.ok(before.round >= 1 && before.round < 4, `the server had finished ${before.round} rounds when killed`);

  const second = await startAegis(["fl", "server", "--config", config, "--json"], /(resuming after round \d+)/);
  assert.equal(second.url, `resuming after round ${before.round}`);
  let stdout = "";
  second.child.stdout?.on("data", (d) => {
    stdout += d;
  });
  const end = await exited(second.child);
  assert.equal(end.code, 0);
  for (const started of running) {
    const client = await started;
    assert.ok(!(client instanceof Error), String(client));
    assert.equal((await exited(client.child)).code, 0);
  }

  const state = JSON.parse(readFileSync(join(dir, "state", "state.json"), "utf8"));
  assert.deepEqual(JSON.parse(stdout).rounds, state.history);
  assert.deepEqual(
    state.history.map((r: { round: number }) => r.round),
    [1, 2, 3, 4],
    "each round aggregated exactly once",
  );
  assert.deepEqual(state.history.slice(0, before.round), before.history, "the rounds before the kill are kept as they were");
  for (const r of state.history) {
    assert.ok(r.clients.length >= 2 && new Set(r.clients).size === r.clients.length, `round ${r.round}: ${r.clients}`);
    assert.ok(r.clients.every((c: string) => HOSPITALS.includes(c)));
  }
  // The federated model learned the task every hospital holds a shifted slice of.
  assert.ok(existsSync(join(dir, "state", "global.onnx")));
  const model = await OnnxClassifier.create(loadModel(join(dir, "state", "global.onnx")));
  const check = hospitalData(1, 400);
  const labels = Array.from(check.y.data, Number);
  const accuracy = countCorrect(await model.predict(check.x), labels) / labels.length;
  await model.release();
  assert.ok(accuracy > 0.85, `the federated model's accuracy is ${accuracy}`);
  // The round report went on across the kill, with each round once and as checkpointed.
  const report = JSON.parse(readFileSync(join(dir, "state", "fl-rounds.json"), "utf8"));
  assert.deepEqual(
    report.rounds.map((r: { round: number; attempt: string }) => [r.round, r.attempt]),
    state.history.map((r: { round: number; attempt: string }) => [r.round, r.attempt]),
  );
});

test("a round closes at its deadline with the clients that answered, and the federation goes on without a dead client", async () => {
  const { dir, config, url } = await federation("rounds: 3\nclientsPerRound: 3\nminClients: 2\ndeadlineSeconds: 3");
  const server = await startAegis(["fl", "server", "--config", config], /listening on (https:\/\/\S+)/);
  const roundOne = waitFor(server.child, /round 1 done: ([\w-]+)/);
  const allDone = waitFor(server.child, /all 3 rounds done/);
  const clients = await Promise.all(HOSPITALS.map((id) => startClient(dir, url, id)));
  // Kill a client that trained round 1: it stays fresh for a while, so a later round samples it, and it never answers.
  const doomed = (await roundOne)[1];
  clients[HOSPITALS.indexOf(doomed)].child.kill("SIGKILL");
  await allDone;
  assert.equal((await exited(server.child)).code, 0);
  for (const [k, client] of clients.entries()) if (HOSPITALS[k] !== doomed) assert.equal((await exited(client.child)).code, 0);
  const { history } = JSON.parse(readFileSync(join(dir, "state", "state.json"), "utf8"));
  assert.deepEqual(
    history.map((r: { round: number }) => r.round),
    [1, 2, 3],
  );
  // The kill may land after the client already answered round 2; a later round then samples it.
  const missed = history.filter((r: { sampled: string[]; clients: string[] }) => r.sampled.includes(doomed) && !r.clients.includes(doomed));
  assert.ok(missed.length > 0, `no round sampled ${doomed} after its death: ${JSON.stringify(history)}`);
  for (const r of missed) assert.ok(r.clients.length >= 2, `round ${r.round} closed with ${r.clients}`);
  assert.ok(!history[2].clients.includes(doomed), `round 3 counted the dead ${doomed}`);
});

test("with mutual TLS the server refuses clients without a certificate from its CA, and takes the one whose certificate names it", async () => {
  const tls = new URL("../../fixtures/gateway/tls/", import.meta.url).pathname;
  const dir = mkdtempSync(join(root, "mtls-"));
  saveModel(join(dir, "initial.onnx"), buildArchitecture("linear", { inputShape: [8], numClasses: 2, seed: 1 }));
  saveNpz(join(dir, "svc-a.npz"), hospitalData(0));
  const port = await freePort();
  const config = join(dir, "fl.yaml");
  writeFileSync(
    config,
    `model: initial.onnx\nlisten: { host: 127.0.0.1, port: ${port} }\ntls: { cert: ${tls}server.pem, key: ${tls}server.key, clientCa: ${tls}ca.pem }\nrounds: 1\nclientsPerRound: 1\ncheckpoint: state\nclients:\n  svc-a: { tokenSha256: ${createHash("sha256").update(tokenOf("svc-a")).digest("hex")} }\n`,
  );
  const server = await startAegis(["fl", "server", "--config", config], /listening on (https:\/\/\S+)/);
  const client = (identity: string[]) =>
    aegis(["fl", "client", "--server", server.url, "--id", "svc-a", "--ca", `${tls}ca.pem`, "--data", join(dir, "svc-a.npz"), "--patience", "1", ...identity], {
      env: { AEGIS_FL_TOKEN: tokenOf("svc-a") },
    });
  const anonymous = await client([]);
  assert.equal(anonymous.code, 9, anonymous.stderr);
  assert.match(anonymous.stderr, /cannot talk to/);
  const rogue = await client(["--cert", `${tls}rogue-client.pem`, "--key", `${tls}rogue-client.key`]);
  assert.equal(rogue.code, 9, rogue.stderr);
  const trusted = await client(["--cert", `${tls}client.pem`, "--key", `${tls}client.key`]);
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.match(trusted.stderr, /svc-a: round 1 sent/);
  assert.equal((await exited(server.child)).code, 0);
});
