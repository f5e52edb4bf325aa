import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Ajv } from "ajv";
import { parseNpz } from "../../src/data/index.js";
import type { Tensor } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const schema = JSON.parse(readFileSync(new URL("../../schema/attack-report.schema.json", import.meta.url), "utf8"));
const tmp = mkdtempSync(join(tmpdir(), "aegis-attack-"));

test("aegis attack pgd over an ε list writes a schema-valid report with a falling curve, and the adversarial examples", async () => {
  const report = join(tmp, "pgd.json");
  const out = join(tmp, "adv.npz");
  const r = await aegis([
    "attack",
    "pgd",
    "--model",
    demo,
    "--data",
    "mnist",
    "--samples",
    "100",
    "--eps",
    "0.1,0.3",
    "--eps-step",
    "0.01",
    "--out",
    out,
    "--json",
    report,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(readFileSync(report, "utf8"));
  const validate = new Ajv({ allErrors: true }).compile(schema);
  const valid = validate(json as object);
  assert.ok(valid, JSON.stringify(validate.errors));
  assert.equal(json.samples, 100);
  assert.deepEqual(json.params.eps, [0.1, 0.3]);
  assert.equal(json.curve.length, 2);
  assert.ok(json.curve[1].robust_accuracy < json.curve[0].robust_accuracy);
  assert.ok(json.curve[1].robust_accuracy <= 0.05, `robust accuracy at 0.3: ${json.curve[1].robust_accuracy}`);
  assert.ok(json.perturbation.linf_mean <= 0.1 + 1e-6);
  const arrays = parseNpz(readFileSync(out));
  assert.deepEqual([...(arrays.get("x") as Tensor).shape], [100, 1, 28, 28]);
  assert.ok(arrays.has("adv_eps_0.3") && arrays.has("y"));
});

test("aegis attack --list marks which attacks apply; --help-attack names the paper", async () => {
  const list = await aegis(["attack", "--list", "--model", demo]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /✓ pgd/);
  const tree = await aegis(["attack", "--list", "--model", new URL("../../fixtures/models/tree_classifier.onnx", import.meta.url).pathname]);
  assert.match(tree.stdout, /✗ pgd/, "no gradient-based attack on a tree ensemble");
  const help = await aegis(["attack", "--help-attack", "pgd"]);
  assert.match(help.stdout, /Madry/);
  assert.match(help.stdout, /maxIter .*default 40/);
});

test("a parameter the attack does not take is refused by name", async () => {
  const r = await aegis(["attack", "fgsm", "--model", demo, "--restarts", "3"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /fgsm has no --restarts/);
});

test("targeted with --target-class sends samples to that class", async () => {
  const r = await aegis(["attack", "pgd", "--model", demo, "--samples", "60", "--target-class", "3", "--max-iter", "100", "--eps-step", "0.01", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.params.targeted, true);
  assert.ok(json.success_rate >= 0.9, `targeted success ${json.success_rate}`);
});

test("a tabular attack with --constraints only returns feasible transactions", async () => {
  const fixtures = new URL("../../fixtures/", import.meta.url).pathname;
  const out = join(tmp, "fraud-adv.npz");
  const r = await aegis([
    "attack",
    "pgd",
    "--model",
    join(fixtures, "models/fraud_mlp.onnx"),
    "--data",
    join(fixtures, "data/fraud.npz"),
    "--x-key",
    "x_test",
    "--y-key",
    "y_test",
    "--constraints",
    join(fixtures, "data/fraud.constraints.json"),
    "--clip",
    "none",
    "--eps",
    "20",
    "--target-class",
    "0",
    "--out",
    out,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.ok(json.success_rate >= 0.8, `fraud flagged as legit after the attack: ${json.success_rate}`);
  const constraints = JSON.parse(readFileSync(join(fixtures, "data/fraud.constraints.json"), "utf8"));
  const adv = parseNpz(readFileSync(out)).get("x") as Tensor<"float32">;
  const features = constraints.features.length;
  const index = (f: string | number) => (typeof f === "number" ? f : constraints.features.indexOf(f));
  for (let i = 0; i < adv.shape[0]; i++) {
    const row = adv.data.subarray(i * features, (i + 1) * features);
    for (const f of constraints.integer) assert.equal(row[index(f)], Math.round(row[index(f)]), `integer feature ${f}`);
    for (const group of constraints.one_hot)
      assert.equal(
        group.map((f: string | number) => row[index(f)]).reduce((a: number, b: number) => a + b, 0),
        1,
        "one-hot group",
      );
  }
});

test("a black-box attack runs against an HTTP endpoint with --target and reports its queries", async () => {
  const { createServer } = await import("node:http");
  const { OnnxClassifier } = await import("../../src/engine/classifier.js");
  const { float32 } = await import("../../src/tensor.js");
  const clf = await OnnxClassifier.fromFile(demo);
  let served = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", async () => {
      const rows: number[][][][] = JSON.parse(body).instances;
      served += rows.length;
      const out = await clf.predict(float32([rows.length, 1, 28, 28], Float32Array.from(rows.flat(3))));
      const k = 10;
      const predictions = rows.map((_, i) => {
        const z = Array.from(out.data.subarray(i * k, (i + 1) * k));
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const s = e.reduce((a, b) => a + b, 0);
        return e.map((v) => v / s);
      });
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ predictions }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const r = await aegis([
      "attack",
      "square",
      "--target",
      `http://127.0.0.1:${port}/predict`,
      "--samples",
      "20",
      "--eps",
      "0.3",
      "--max-queries",
      "1000",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.ok(json.robust_accuracy <= 0.1, `robust accuracy through HTTP ${json.robust_accuracy}`);
    assert.ok(json.queries.mean > 1 && json.queries.max <= 1000, `queries ${JSON.stringify(json.queries)}`);
    // Every query the attack counted reached the server (plus the clean and final evaluations).
    assert.ok(served >= json.queries.mean * 20, `server saw ${served} samples`);
  } finally {
    server.close();
    await clf.release();
  }
});
