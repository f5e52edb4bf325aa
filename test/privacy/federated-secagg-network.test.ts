/**
 * `aegis fl server` and clients under secure aggregation over HTTPS (in one process, on
 * loopback, with an openssl certificate): three hospitals train through Bonawitz et al.'s
 * stages, the server records each round with the clients whose masked inputs it summed, the
 * global model learns the task, and a plain update is refused. A hospital that leaves after
 * round 1 does not stop later rounds (the sum of the two others is unmasked). The clients
 * speak HTTP/2 (ALPN h2) and the server still answers HTTP/1.1. With `dp` in fl.yaml the
 * rounds run DP-FedAvg, with and without secure aggregation, and each records its ε.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:http2";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createRng } from "../../src/data/index.js";
import { buildArchitecture, countCorrect, OnnxClassifier } from "../../src/engine/index.js";
import { saveModel } from "../../src/onnx/io.js";
import { dpFedAvgEpsilon, FL_PATHS, FlServer, readFlConfig, runFlClient, writeParameters } from "../../src/privacy/index.js";
import { float32 } from "../../src/tensor.js";
import { selfSignedCertificate } from "../helpers/certificate.js";

const HOSPITALS = ["hospital-1", "hospital-2", "hospital-3"];
const tokenOf = (id: string) => `secagg-token-${id}-${"y".repeat(16)}`;

/** 8 features, class 1 when the first two sum above 1. */
function hospitalData(k: number, n = 120) {
  const rng = createRng(k + 30);
  const x = Float32Array.from({ length: n * 8 }, () => rng.next());
  return { x: float32([n, 8], x), labels: Array.from({ length: n }, (_, r) => (x[r * 8] + x[r * 8 + 1] > 1 ? 1 : 0)) };
}

/** A folder with a certificate, the initial model and an fl.yaml for the three hospitals with `extra` keys. */
function federation(prefix: string, extra: string, sampling = "clientsPerRound: 3\nminClients: 2\n"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  selfSignedCertificate(dir);
  saveModel(join(dir, "initial.onnx"), buildArchitecture("linear", { inputShape: [8], numClasses: 2, seed: 1 }));
  const clients = HOSPITALS.map((id) => `  ${id}: { tokenSha256: ${createHash("sha256").update(tokenOf(id)).digest("hex")} }`).join("\n");
  writeFileSync(
    join(dir, "fl.yaml"),
    `model: initial.onnx\nlisten: { host: 127.0.0.1, port: 0 }\ntls: { cert: server.crt, key: server.key }\nrounds: 3\n${sampling}deadlineSeconds: 8\n${extra}local: { epochs: 5, batchSize: 16, lr: 0.5 }\ncheckpoint: state\nclients:\n${clients}\n`,
  );
  return dir;
}

/** The share of held-out rows the federation's checkpointed model classifies right. */
async function heldOutAccuracy(dir: string): Promise<number> {
  const model = await OnnxClassifier.create(buildArchitecture("linear", { inputShape: [8], numClasses: 2, seed: 1 }), { trainable: true });
  const state = JSON.parse(readFileSync(join(dir, "state", "state.json"), "utf8"));
  const parameters = readFileSync(join(dir, "state", state.parameters));
  writeParameters(model, new Float32Array(parameters.buffer.slice(parameters.byteOffset, parameters.byteOffset + parameters.length)));
  const heldOut = hospitalData(9, 400);
  const accuracy = countCorrect(await model.predict(heldOut.x), heldOut.labels) / 400;
  await model.release();
  return accuracy;
}

test("three hospitals train under secure aggregation over HTTP/2; the server sums masked inputs only and survives a hospital leaving", async () => {
  const dir = federation("aegis-secagg-net-", "secureAggregation: { clip: 1 }\n");
  const config = readFlConfig(join(dir, "fl.yaml"));
  assert.deepEqual(config.secureAggregation, { clip: 1, thresholdShare: undefined });
  const server = await FlServer.create(config);
  const port = await server.listen();
  const url = `https://127.0.0.1:${port}`;
  const ca = readFileSync(join(dir, "server.crt"));

  // A plain update is refused while a secure round is open.
  const plainRefused = new Promise<number>((resolve) => {
    const poll = setInterval(() => {
      const req = request(
        new URL(FL_PATHS.update, url),
        {
          method: "POST",
          ca,
          headers: { authorization: `Bearer ${tokenOf("hospital-3")}`, "x-aegis-round": "1", "x-aegis-attempt": "?", "x-aegis-examples": "1" },
        },
        (res) => {
          res.resume();
          clearInterval(poll);
          resolve(res.statusCode ?? 0);
        },
      );
      req.end(Buffer.alloc(4));
    }, 300);
  });
  const leaving = new AbortController();
  const runs = HOSPITALS.map((id, k) =>
    runFlClient({
      server: url,
      id,
      token: tokenOf(id),
      ca,
      data: hospitalData(k),
      patienceMs: 5000,
      signal: id === "hospital-3" ? leaving.signal : undefined,
      onRound: (round) => {
        if (id === "hospital-3" && round === 1) leaving.abort();
      },
    }).catch((e: Error) => e),
  );
  await server.done;
  const results = await Promise.all(runs);
  // The clients spoke HTTP/2, and a fresh connection negotiates h2 by ALPN.
  assert.equal(server.protocolOf("hospital-1"), "2.0");
  const session = connect(url, { ca });
  const negotiated = await new Promise<{ alpn: string | false | undefined; status: number }>((resolve, reject) => {
    const stream = session.request({ ":path": FL_PATHS.task, authorization: `Bearer ${tokenOf("hospital-2")}` });
    stream.on("response", (headers) => {
      stream.resume();
      resolve({ alpn: session.alpnProtocol, status: Number(headers[":status"]) });
    });
    stream.on("error", reject);
    stream.end();
  });
  session.close();
  assert.deepEqual(negotiated, { alpn: "h2", status: 200 });
  await server.close();
  // The plain update went over HTTP/1.1, which the server still answers.
  assert.equal(await plainRefused, 409);

  const rounds = server.rounds;
  assert.equal(rounds.length, 3);
  assert.deepEqual(rounds[0].clients, HOSPITALS, "round 1 sums all three masked inputs");
  for (const r of rounds.slice(1)) assert.deepEqual(r.clients, ["hospital-1", "hospital-2"], `round ${r.round} sums the two hospitals that stayed`);
  assert.deepEqual(results[0], [1, 2, 3]);
  assert.ok(results[2] instanceof Error && /interrupted/.test(results[2].message), String(results[2]));

  const accuracy = await heldOutAccuracy(dir);
  assert.ok(accuracy > 0.85, `the securely aggregated model classifies ${accuracy} of held-out rows`);
});

/** Runs the federation in `dir` to its end: the server, and every hospital as a client over HTTPS. */
async function runFederation(dir: string, config: ReturnType<typeof readFlConfig>): Promise<FlServer> {
  const server = await FlServer.create(config);
  const url = `https://127.0.0.1:${await server.listen()}`;
  const ca = readFileSync(join(dir, "server.crt"));
  const runs = HOSPITALS.map((id, k) => runFlClient({ server: url, id, token: tokenOf(id), ca, data: hospitalData(k), patienceMs: 5000 }));
  await server.done;
  await Promise.all(runs);
  await server.close();
  return server;
}

test("DP-FedAvg over the network, with the server clipping or, under secure aggregation, the clients: every round records its ε and the model learns", async () => {
  for (const secure of [false, true]) {
    const dir = federation("aegis-dp-net-", `dp: { clip: 2, noiseMultiplier: 0.05, delta: 1e-5 }\n${secure ? "secureAggregation: {}\n" : ""}`);
    const config = readFlConfig(join(dir, "fl.yaml"));
    assert.deepEqual(config.dp, { clip: 2, noiseMultiplier: 0.05, delta: 1e-5, samplingRate: 1 });
    if (secure) assert.equal(config.secureAggregation?.clip, 2, "the clients clip to dp.clip");
    const server = await runFederation(dir, config);
    const rounds = server.rounds;
    assert.deepEqual(
      rounds.map((r) => r.clients),
      [HOSPITALS, HOSPITALS, HOSPITALS],
    );
    assert.deepEqual(
      rounds.map((r) => r.epsilon),
      [1, 2, 3].map((r) => dpFedAvgEpsilon({ samplingRate: 1, noiseMultiplier: 0.05, rounds: r, delta: 1e-5 }).epsilon),
    );
    const accuracy = await heldOutAccuracy(dir);
    assert.ok(accuracy > 0.8, `${secure ? "secure " : ""}DP-FedAvg's model classifies ${accuracy} of held-out rows`);
  }
  // clientsPerRound 2 of 3: each hospital is sampled with probability q = 2/3, and ε follows that q.
  const dir = federation("aegis-dp-poisson-", "dp: { clip: 2, noiseMultiplier: 0.5 }\n", "clientsPerRound: 2\nminClients: 1\n");
  const config = readFlConfig(join(dir, "fl.yaml"));
  assert.equal(config.dp?.samplingRate, 2 / 3);
  const server = await runFederation(dir, config);
  for (const r of server.rounds) {
    assert.ok(r.sampled.length >= 1 && r.sampled.every((id) => HOSPITALS.includes(id)), `round ${r.round} sampled ${r.sampled.join(", ")}`);
    assert.deepEqual(r.clients, r.sampled, `round ${r.round}: every sampled hospital was online and answered`);
  }
  assert.deepEqual(
    server.rounds.map((r) => r.epsilon),
    [1, 2, 3].map((r) => dpFedAvgEpsilon({ samplingRate: 2 / 3, noiseMultiplier: 0.5, rounds: r, delta: 1e-5 }).epsilon),
  );
});

test("fl.yaml refuses secure aggregation or DP with a robust aggregator, a one-client round or conflicting clips, naming the key", () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-secagg-config-"));
  const base = `model: m.onnx\ntls: { cert: c, key: k }\nclients:\n  a: { tokenSha256: ${"ab".repeat(32)} }\n  b: { tokenSha256: ${"cd".repeat(32)} }\n`;
  const read = (extra: string) => {
    writeFileSync(join(dir, "fl.yaml"), base + extra);
    return () => readFlConfig(join(dir, "fl.yaml"));
  };
  assert.throws(read("aggregator: median\nsecureAggregation: {}\n"), /aggregator.*must be fedavg under secureAggregation: median needs each client's update/);
  assert.throws(read("clientsPerRound: 1\nsecureAggregation: { clip: 0.5 }\n"), /clientsPerRound.*at least 2 under secureAggregation/);
  assert.throws(read("secureAggregation: { threshold: 1.5 }\n"), /threshold/);
  assert.deepEqual(read("secureAggregation: { clip: 0.5, threshold: 0.75 }\n")().secureAggregation, { clip: 0.5, thresholdShare: 0.75 });
  assert.throws(read("aggregator: krum\ndp: { clip: 1, noiseMultiplier: 1 }\n"), /aggregator.*must be fedavg under dp/);
  assert.throws(read("dp: { clip: 1 }\n"), /dp.*exactly one of noiseMultiplier or targetEpsilon/);
  assert.throws(read("dp: { clip: 1, noiseMultiplier: 1 }\nsecureAggregation: { clip: 3 }\n"), /clip.*does not apply with dp/);
  // targetEpsilon solves z for q = clientsPerRound / clients (here 1) over the rounds (default 10).
  const solved = read("dp: { clip: 1, targetEpsilon: 8 }\n")().dp;
  assert.ok(solved && dpFedAvgEpsilon({ ...solved, rounds: 10 }).epsilon <= 8, JSON.stringify(solved));
});
