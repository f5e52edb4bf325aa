import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createRng, saveNpz } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { saveModel } from "../../src/onnx/index.js";
import { evaluatePlain, predictedClass, readHeModel } from "../../src/privacy/index.js";
import { float32, tensor } from "../../src/tensor.js";
import { aegis, exited, startAegis } from "../helpers/cli.js";

test("aegis he compile → keygen → encrypt → infer → decrypt: the server's step sees public keys only and logs no values", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-he-cli-"));
  const rng = createRng(4);
  const n = 20;
  const x = Float32Array.from({ length: n * 5 }, () => rng.normal());
  const labels = BigInt64Array.from({ length: n }, (_, s) => BigInt(s % 3));
  saveNpz(join(dir, "d.npz"), { x: float32([n, 5], x), y: tensor("int64", [n], labels) });
  saveModel(join(dir, "m.onnx"), buildArchitecture("linear", { inputShape: [5], numClasses: 3, seed: 1 }));
  const at = (f: string) => join(dir, f);

  const compiled = await aegis(["he", "compile", "--model", at("m.onnx"), "--data", at("d.npz"), "--packing", "batch", "--out", at("m.he.json")]);
  assert.equal(compiled.code, 0, compiled.stderr);
  assert.match(compiled.stderr, /ops: Gemm×1, Identity×1 — all supported/);
  assert.match(compiled.stderr, /CKKS N=4096 .*of 109 allowed at 128-bit security.*\npacking batch: 2048 samples per request, 0 rotation keys/);
  const params = JSON.parse(readFileSync(at("m.he.params.json"), "utf8"));
  assert.equal(params.weights, undefined);
  assert.ok(!readFileSync(at("m.he.params.json"), "utf8").includes('"stages"'), "the client's parameters hold no weights");

  assert.equal((await aegis(["he", "keygen", "--params", at("m.he.params.json"), "--out", at("client.key")])).code, 0);
  assert.equal(statSync(at("client.key")).mode & 0o777, 0o600, "the secret key is readable by its owner only");
  assert.equal((await aegis(["he", "encrypt", "--key", at("client.key"), "--data", at("d.npz"), "--out", at("req.bin")])).code, 0);

  // Given the secret key in place of the public keys, the server refuses it (exit 5, BAD_DATA).
  const wrong = await aegis(["he", "infer", "--model", at("m.he.json"), "--keys", at("client.key"), "--in", at("req.bin"), "--out", at("resp.bin")]);
  assert.equal(wrong.code, 5);
  assert.match(wrong.stderr, /not a valid public-keys file \(it holds secret-key\)/);

  const served = await aegis(["he", "infer", "--model", at("m.he.json"), "--keys", at("client.key.pub"), "--in", at("req.bin"), "--out", at("resp.bin")]);
  assert.equal(served.code, 0, served.stderr);
  // The server's log is one line of sizes and time: no input, output or class.
  assert.match(served.stderr.trim(), /^wrote \S+resp\.bin \([\d.]+ MiB\) in [\d.]+ s$/);

  const decrypted = await aegis(["he", "decrypt", "--key", at("client.key"), "--in", at("resp.bin"), "--data", at("d.npz"), "--json"]);
  assert.equal(decrypted.code, 0, decrypted.stderr);
  const result = JSON.parse(decrypted.stdout);
  const plain = evaluatePlain(readHeModel(at("m.he.json")).stages, Float64Array.from(x), n);
  assert.deepEqual(
    result.predictions,
    Array.from({ length: n }, (_, s) => predictedClass(plain, s * 3, 3)),
  );
  for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(result.outputs[i] - plain[i]) < 1e-3);
  const accuracy = result.predictions.filter((p: number, s: number) => BigInt(p) === labels[s]).length / n;
  assert.equal(result.accuracy, accuracy);

  // The same over HTTP: aegis serve --he is started with the model only; its request log holds no value.
  const { child, url } = await startAegis(["serve", "--he", at("m.he.json"), "--port", "0", "--log-level", "info"], /encrypted at (http:\/\/[^/]+)\//);
  let log = "";
  child.stderr?.on("data", (d) => {
    log += d;
  });
  try {
    const post = (path: string, file: string) =>
      fetch(`${url}${path}`, { method: "POST", body: readFileSync(at(file)), headers: { "content-type": "application/vnd.aegis.he" } });
    assert.equal((await post("/v1/he/m/keys", "client.key.pub")).status, 200);
    const answer = await post("/v1/he/m:infer", "req.bin");
    assert.equal(answer.status, 200);
    writeFileSync(at("resp-http.bin"), Buffer.from(await answer.arrayBuffer()));
  } finally {
    child.kill("SIGTERM");
    await exited(child);
  }
  const overHttp = await aegis(["he", "decrypt", "--key", at("client.key"), "--in", at("resp-http.bin"), "--json"]);
  assert.deepEqual(JSON.parse(overHttp.stdout).predictions, result.predictions);
  assert.match(log, /"statusCode":200/, "the request log is on");
  const logged = log.replace(/"responseTime":[\d.]+/g, "");
  for (const v of [...x.subarray(0, 10), ...result.outputs.slice(0, 10)]) assert.ok(!logged.includes(v.toFixed(5)), `the log holds ${v.toFixed(5)}`);
});

test("aegis he compile refuses a polynomial degree that cannot hold the circuit at 128-bit security (exit 7)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-he-cli-"));
  saveModel(join(dir, "m.onnx"), buildArchitecture("he-mlp", { inputShape: [5], numClasses: 3, seed: 1 }));
  saveNpz(join(dir, "d.npz"), { x: float32([4, 5], new Float32Array(20).fill(0.5)) });
  const r = await aegis([
    "he",
    "compile",
    "--model",
    join(dir, "m.onnx"),
    "--data",
    join(dir, "d.npz"),
    "--poly-degree",
    "2048",
    "--out",
    join(dir, "m.he.json"),
  ]);
  assert.equal(r.code, 7, r.stderr);
  assert.match(r.stderr, /no 128-bit-secure CKKS parameters at degree 2048/);
});
