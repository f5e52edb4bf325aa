/** The commands a user runs, end to end through the real binary. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeNpz, parseNpz } from "../../src/data/index.js";
import { float32, type Tensor, tensor } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const models = new URL("../../fixtures/models/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "aegis-cli-"));
const mlp = join(models, "tabular_mlp.onnx");
const ref = parseNpz(readFileSync(join(models, "tabular_mlp.npz")));

test("inspect --json describes a PyTorch model and a tree ensemble", async () => {
  const r = await aegis(["inspect", join(models, "resnet_bn.onnx"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.differentiable, true);
  assert.equal(s.opsets["ai.onnx"], 17);
  assert.equal(s.ops.BatchNormalization, 5);
  assert.deepEqual(s.outputs[0].shape, ["batch", 10]);

  const t = await aegis(["inspect", join(models, "tree_classifier.onnx")]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /differentiable false/);
  assert.match(t.stdout, /no gradient: ai\.onnx\.ml\.TreeEnsembleClassifier/);
});

test("predict reports accuracy over an .npz in batches", async () => {
  const data = join(tmp, "mlp.npz");
  writeFileSync(data, encodeNpz({ x: ref.get("x") as Tensor, y: ref.get("y") as Tensor }));
  const r = await aegis(["predict", "--model", mlp, "--data", data, "--batch-size", "3", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.samples, 8);
  // Labels were chosen so that even samples are predicted correctly and odd ones are not.
  assert.equal(out.accuracy, 0.5);
});

test("grad writes each sample's CE gradient as `grad`, equal to PyTorch's, whatever the batch size", async () => {
  const data = join(tmp, "mlp-grad.npz");
  writeFileSync(data, encodeNpz({ x: ref.get("x") as Tensor, y: ref.get("y") as Tensor }));
  for (const batch of ["1", "5"]) {
    const out = join(tmp, `g${batch}.npz`);
    const r = await aegis(["grad", "--model", mlp, "--data", data, "--out", out, "--batch-size", batch]);
    assert.equal(r.code, 0, r.stderr);
    const g = parseNpz(readFileSync(out)).get("grad") as Tensor<"float32">;
    const expected = ref.get("grad_ce") as Tensor<"float32">;
    assert.deepEqual([...g.shape], [8, 12]);
    for (let i = 0; i < g.data.length; i++) assert.ok(Math.abs(g.data[i] - expected.data[i]) < 1e-5);
  }
  const cls = join(tmp, "class.npz");
  const r = await aegis(["grad", "--model", mlp, "--data", data, "--out", cls, "--target-class", "2"]);
  assert.equal(r.code, 0, r.stderr);
  const g = parseNpz(readFileSync(cls)).get("grad") as Tensor<"float32">;
  const expected = ref.get("grad_class2") as Tensor<"float32">;
  for (let i = 0; i < g.data.length; i++) assert.ok(Math.abs(g.data[i] - expected.data[i]) < 1e-5);
});

test("train on an .npz writes a model that predict then uses", async () => {
  const n = 240;
  const x = new Float32Array(n * 4);
  const y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    y[i] = BigInt(c);
    for (let j = 0; j < 4; j++) x[i * 4 + j] = (c ? 1 : -1) + Math.sin(i * 7 + j) * 0.5;
  }
  const data = join(tmp, "toy.npz");
  writeFileSync(data, encodeNpz({ x: float32([n, 4], x), y: tensor("int64", [n], y) }));
  const out = join(tmp, "toy.onnx");
  const r = await aegis(["train", "--arch", "mlp", "--dataset", data, "--epochs", "3", "--batch-size", "32", "--out", out, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /epoch 3\/3: loss/);
  assert.ok(existsSync(out));
  const history = JSON.parse(r.stdout).history;
  assert.equal(history.length, 3);
  assert.ok(history[2].accuracy > 0.95);
  const p = await aegis(["predict", "--model", out, "--data", data, "--json"]);
  assert.ok(JSON.parse(p.stdout).accuracy > 0.95);
});

test("--device cuda without the CUDA provider says so and exits 8", async () => {
  const data = join(tmp, "mlp-cuda.npz");
  writeFileSync(data, encodeNpz({ x: ref.get("x") as Tensor, y: ref.get("y") as Tensor }));
  const r = await aegis(["predict", "--model", mlp, "--data", data, "--device", "cuda"]);
  assert.equal(r.code, 8, r.stderr);
  assert.match(r.stderr, /CUDA/);
});

test("predict --target queries a real HTTP endpoint as a black box and counts queries", async () => {
  const { createServer } = await import("node:http");
  const { OnnxClassifier } = await import("../../src/engine/classifier.js");
  const clf = await OnnxClassifier.fromFile(mlp);
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", async () => {
      const rows: number[][] = JSON.parse(body).inputs;
      const out = await clf.predict(float32([rows.length, 12], Float32Array.from(rows.flat())));
      const scores = rows.map((_, i) => Array.from(out.data.subarray(i * 3, i * 3 + 3)));
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ result: { scores } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const data = join(tmp, "mlp-target.npz");
    writeFileSync(data, encodeNpz({ x: ref.get("x") as Tensor, y: ref.get("y") as Tensor }));
    const r = await aegis([
      "predict",
      "--target",
      `http://127.0.0.1:${port}/predict`,
      "--data",
      data,
      "--request-template",
      '{"inputs": "$instances"}',
      "--response-path",
      "result.scores",
      "--batch-size",
      "3",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.accuracy, 0.5);
    assert.equal(out.queries, 8);
  } finally {
    server.close();
    await clf.release();
  }
});

test("AEGIS_VERSION, which every report and exported model carries, is package.json's version", async () => {
  const { AEGIS_VERSION } = await import("../../src/version.js");
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  assert.equal(AEGIS_VERSION, pkg.version);
});
