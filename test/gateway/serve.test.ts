/** The model server: KServe-style predictions equal the engine's, validation derived from the model, typed JSON errors, signature refusal. */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { loadMnist } from "../../src/data/mnist.js";
import { encodeNpy } from "../../src/data/npy.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { softmaxRows } from "../../src/engine/probabilities.js";
import { createServer } from "../../src/gateway/server.js";
import { float32, sliceRows } from "../../src/tensor.js";
import { aegis, exited, startAegis } from "../helpers/cli.js";

const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
let app: FastifyInstance;
let url: string;
let classifier: OnnxClassifier;
const images = sliceRows(loadMnist().test.x, 0, 4);

before(async () => {
  classifier = await OnnxClassifier.fromFile(modelPath);
  app = await createServer({ models: [{ name: "mnist-cnn", classifier, maxInstances: 8 }], bodyLimit: 64 * 1024 });
  url = await app.listen({ host: "127.0.0.1", port: 0 });
});
after(async () => {
  await app.close();
  await classifier.release();
});

function nested(i: number): number[][][] {
  const img = images.data.subarray(i * 784, (i + 1) * 784);
  return [Array.from({ length: 28 }, (_, r) => Array.from(img.subarray(r * 28, (r + 1) * 28)))];
}

interface ApiBody {
  predictions: number[][];
  error: { code: string; message: string };
}

async function post(body: unknown, headers: Record<string, string> = { "content-type": "application/json" }, path = "/v1/models/mnist-cnn:predict") {
  const payload = body instanceof Uint8Array ? Buffer.from(body) : typeof body === "string" ? body : JSON.stringify(body);
  const res = await fetch(url + path, { method: "POST", headers, body: payload });
  return { status: res.status, body: (await res.json()) as ApiBody };
}

test("predictions are the engine's probabilities, for nested and flat instances alike", async () => {
  const expected = softmaxRows(await classifier.predict(images));
  const r = await post({ instances: [nested(0), nested(1), Array.from(images.data.subarray(2 * 784, 3 * 784)), nested(3)] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.predictions.length, 4);
  for (let i = 0; i < 4; i++) {
    const row: number[] = r.body.predictions[i];
    assert.equal(row.length, 10);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    for (let k = 0; k < 10; k++) assert.ok(Math.abs(row[k] - expected.data[i * 10 + k]) < 1e-6);
  }
});

test("a binary .npy batch gives the same predictions; NaN, wrong shapes and pickles are refused", async () => {
  const json = await post({ instances: [nested(0), nested(1)] });
  const npy = await post(encodeNpy(sliceRows(images, 0, 2)), { "content-type": "application/x-npy" });
  assert.equal(npy.status, 200, JSON.stringify(npy.body));
  assert.deepEqual(npy.body.predictions, json.body.predictions);

  const bad = float32([1, 1, 28, 28]);
  bad.data[5] = Number.NaN;
  let r = await post(encodeNpy(bad), { "content-type": "application/x-npy" });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /finite/);
  r = await post(encodeNpy(float32([2, 784])), { "content-type": "application/x-npy" });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /shape \[2, 784\]/);
  // A pickled object array: the first bytes of a .npy header with dtype "|O".
  const header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".padEnd(117, " ");
  const pickle = Buffer.concat([
    Buffer.from([0x93]),
    Buffer.from("NUMPY"),
    Buffer.from([1, 0, 118, 0]),
    Buffer.from(`${header}\n`),
    Buffer.from([0x80, 4, 0x4e, 0x2e]),
  ]);
  r = await post(new Uint8Array(pickle), { "content-type": "application/x-npy" });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "INVALID_INPUT");
});

test("a .npy body whose header nests 5,000 brackets is a 400 that names the nesting, not a stack overflow", async () => {
  const deep = readFileSync(new URL("../../fixtures/fuzz/npy/deep-brackets.npy", import.meta.url));
  const r = await post(new Uint8Array(deep), { "content-type": "application/x-npy" });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "INVALID_INPUT");
  assert.match(r.body.error.message, /^the body is not a valid \.npy array: the request body has a malformed \.npy header \(brackets nest more than 32 levels/);
  assert.doesNotMatch(r.body.error.message, /call stack|RangeError/);
});

test("validation follows the model: range, shape, unknown fields, batch limit, body limit", async () => {
  const outOfRange = nested(0);
  outOfRange[0][3][5] = 1.5;
  const cases: [unknown, RegExp][] = [
    [{ instances: [outOfRange] }, /\/instances\/0\/0\/3\/5 must be <= 1/],
    [{ instances: [nested(0)], debug: true }, /unknown field "debug"/],
    [{ inputs: [nested(0)] }, /unknown field "inputs"|must be \{"instances"/],
    [{ instances: [[1, 2, 3]] }, /\[1, 28, 28\] array of numbers in \[0, 1\]/],
    [{ instances: [nested(0).map((c) => c.map((r) => r.map(String)))] }, /must be number/],
    [{ instances: [] }, /must NOT have fewer than 1 items/],
    [{ instances: Array.from({ length: 9 }, () => nested(0)) }, /must NOT have more than 8 items/],
  ];
  for (const [body, message] of cases) {
    const r = await post(body);
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    assert.equal(r.body.error.code, "INVALID_INPUT");
    assert.match(r.body.error.message, message);
  }
  let r = await post("{not json");
  assert.equal(r.status, 400);
  assert.ok(!JSON.stringify(r.body).includes("at "), "no stack trace in errors");
  // 8 × 784 numbers of 12 characters: about 75 KB, over the 64 KiB limit of this server.
  r = await post({ instances: Array.from({ length: 8 }, () => new Array(784).fill(0.1234567891)) });
  assert.equal(r.status, 413);
  assert.equal(r.body.error.code, "FST_ERR_CTP_BODY_TOO_LARGE");
});

test("model description, schema, health, and 404s for unknown models and verbs", async () => {
  const info = await (await fetch(`${url}/v1/models/mnist-cnn`)).json();
  assert.deepEqual(info, { name: "mnist-cnn", ready: true, inputShape: [1, 28, 28], numClasses: 10, inputRange: [0, 1], outputs: "probabilities" });
  const schema = (await (await fetch(`${url}/v1/models/mnist-cnn/schema`)).json()) as {
    additionalProperties: boolean;
    properties: { instances: { maxItems: number } };
  };
  assert.equal(schema.additionalProperties, false);
  assert.equal(schema.properties.instances.maxItems, 8);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  assert.deepEqual(await (await fetch(`${url}/readyz`)).json(), { status: "ready", models: ["mnist-cnn"] });
  let r = await post({ instances: [nested(0)] }, undefined, "/v1/models/other:predict");
  assert.equal(r.status, 404);
  assert.match(r.body.error.message, /no model named "other"; this server has mnist-cnn/);
  r = await post({ instances: [nested(0)] }, undefined, "/v1/models/mnist-cnn:explain");
  assert.equal(r.status, 404);
  assert.equal((await fetch(`${url}/nope`)).status, 404);
});

test("aegis serve refuses a model whose signature does not verify (exit 12) and serves a signed one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-serve-"));
  const model = join(dir, "digits.onnx");
  copyFileSync(modelPath, model);
  const key = join(dir, "k.key");
  assert.equal((await aegis(["keygen", "--out", key])).code, 0);
  assert.equal((await aegis(["sign", model, "--key", key])).code, 0);

  const served = await startAegis(["serve", "--model", model, "--port", "0", "--pub", `${key}.pub`, "--log-level", "off"], /serving \S+ at (http:\/\/[^/]+)\//);
  const r = await fetch(`${served.url}/v1/models/digits:predict`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ instances: [nested(0)] }),
  });
  assert.equal(r.status, 200);
  // The default body limit takes the default --max-instances (256) inputs, each pixel a float32 written out at full precision.
  const pixels = Array.from({ length: 784 }, (_, k) => Math.fround(((k * 7919) % 997) / 997));
  const full = JSON.stringify({ instances: Array.from({ length: 256 }, () => pixels) });
  assert.ok(full.length > 2 ** 21, `${full.length} bytes, over twice the old 1 MiB default`);
  const many = await fetch(`${served.url}/v1/models/digits:predict`, { method: "POST", headers: { "content-type": "application/json" }, body: full });
  assert.equal(many.status, 200);
  assert.equal(((await many.json()) as ApiBody).predictions.length, 256);
  served.child.kill("SIGTERM");
  assert.deepEqual(await exited(served.child), { code: 0, signal: null });

  writeFileSync(model, Buffer.concat([Buffer.from("tampered"), Buffer.alloc(8)]));
  const refused = await aegis(["serve", "--model", model, "--port", "0", "--pub", `${key}.pub`]);
  assert.equal(refused.code, 12, refused.stderr);
  assert.match(refused.stderr, /refusing to serve .*digits\.onnx: its signature does not verify/);
});
