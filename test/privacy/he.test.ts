import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createRng, loadDataset, parseNpz } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { adam } from "../../src/engine/optimizers.js";
import { train } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { loadModel } from "../../src/onnx/index.js";
import { loadSeal } from "../../src/privacy/he/seal.js";
import {
  checkSecurity,
  chooseParameters,
  compileModel,
  decodeContainer,
  evaluateEncrypted,
  evaluatePlain,
  fitPolynomial,
  generateKeys,
  HeClient,
  HeEvaluator,
  MAX_COEFF_BITS_128,
  readHeParams,
} from "../../src/privacy/index.js";
import { float32 } from "../../src/tensor.js";

/** Two overlapping Gaussian classes in 8-D: a tabular task logistic regression gets mostly, not entirely, right. */
function tabular(n: number, seed: number): { x: Float32Array; labels: number[] } {
  const rng = createRng(seed);
  const x = new Float32Array(n * 8);
  const labels: number[] = [];
  for (let s = 0; s < n; s++) {
    const label = s % 2;
    labels.push(label);
    for (let f = 0; f < 8; f++) x[s * 8 + f] = rng.normal() + (label === 1 ? 0.6 : -0.6) * (f < 4 ? 1 : 0.3);
  }
  return { x, labels };
}

function uniform(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.next());
}

test("parameters below 128-bit security are refused, by Aegis and by SEAL", async () => {
  // 120 bits of modulus at N = 4096 exceed the standard's 109; 240 at N = 8192 exceed 218.
  for (const weak of [
    { scheme: "ckks" as const, polyModulusDegree: 4096, coeffModulusBits: [60, 60], scaleBits: 40 },
    { scheme: "ckks" as const, polyModulusDegree: 8192, coeffModulusBits: [60, 60, 60, 60], scaleBits: 40 },
    { scheme: "ckks" as const, polyModulusDegree: 1024, coeffModulusBits: [30], scaleBits: 25 },
  ])
    assert.throws(
      () => checkSecurity(weak),
      (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION",
    );
  checkSecurity({ scheme: "ckks", polyModulusDegree: 4096, coeffModulusBits: [40, 29, 40], scaleBits: 29 });

  // SEAL's own check at tc128 agrees: it will not build the weak context either.
  const seal = await loadSeal();
  const parms = seal.EncryptionParameters(seal.SchemeType.ckks);
  parms.setPolyModulusDegree(4096);
  parms.setCoeffModulus(seal.CoeffModulus.Create(4096, Int32Array.from([60, 60])));
  assert.equal(seal.Context(parms, true, seal.SecurityLevel.tc128).parametersSet(), false);

  // Chosen parameters always fit the table, and a circuit too deep for any degree is refused rather than weakened.
  for (const depth of [1, 3, 5, 8]) {
    const p = chooseParameters({ depth, headroomBits: 8, slots: 256 });
    assert.ok(p.coeffModulusBits.reduce((a, b) => a + b, 0) <= MAX_COEFF_BITS_128[p.polyModulusDegree], `depth ${depth}: ${JSON.stringify(p)}`);
  }
  assert.throws(() => chooseParameters({ depth: 5, headroomBits: 8, slots: 16, polyModulusDegree: 4096 }), /no 128-bit-secure CKKS parameters/);

  // A params file edited to weaker parameters is refused when read.
  const model = buildArchitecture("linear", { inputShape: [8], numClasses: 2, seed: 0 });
  const { params } = compileModel(model, { name: "lr", calibration: tabular(50, 1).x, calibrationSamples: 50 });
  const path = join(mkdtempSync(join(tmpdir(), "aegis-he-")), "weak.params.json");
  writeFileSync(path, JSON.stringify({ ...params, parameters: { ...params.parameters, coeffModulusBits: [60, 60] } }));
  assert.throws(() => readHeParams(path), /below 128-bit security/);
});

test("compile names every op CKKS cannot run, with what to use instead", () => {
  assert.throws(
    () => compileModel(loadModel("models/mnist-cnn.onnx"), { name: "cnn", calibration: new Float32Array(784), calibrationSamples: 1 }),
    (e: unknown) => e instanceof AegisError && e.code === "UNSUPPORTED" && /MaxPool \(node [^)]*: use AveragePool\)/.test(e.message),
  );
});

test("a least-squares polynomial follows ReLU over the calibration range", () => {
  const p = fitPolynomial((v) => Math.max(0, v), -4, 4, 2);
  let worst = 0;
  for (let v = -4; v <= 4; v += 0.01) worst = Math.max(worst, Math.abs(p[0] + p[1] * v + p[2] * v * v - Math.max(0, v)));
  // The best quadratic for |x|/2 + x/2 on [-4, 4] misses by about 0.3 at 0 and the ends.
  assert.ok(worst < 0.5, `max error ${worst}`);
  assert.ok(Math.abs(p[1] - 0.5) < 1e-9, "the odd part of ReLU is x/2 exactly");
});

test("ReLU layers compile to polynomials fitted where their inputs fall on calibration data", () => {
  const data = loadDataset("fixtures/data/fraud.npz", { xKey: "x_train", yKey: "y_train" });
  const { report, params } = compileModel(loadModel("fixtures/models/fraud_mlp.onnx"), {
    name: "fraud",
    calibration: data.x.data.subarray(0, 500 * 12),
    calibrationSamples: 500,
  });
  assert.deepEqual(
    report.activations.map((a) => [a.origin, a.degree]),
    [
      ["relu", 2],
      ["relu", 2],
    ],
  );
  for (const a of report.activations) assert.ok((a.range?.[0] ?? 0) < 0 && (a.range?.[1] ?? 0) > 0, `range ${a.range}`);
  // Without fine-tuning, the quadratic model keeps most of the MLP's decisions (86% measured; a uniform-grid fit gave 74%).
  assert.ok(report.polynomialAgreement >= 0.8, `agreement ${report.polynomialAgreement}`);
  assert.equal(params.depth, 5, "three dense layers and two quadratics");
});

test("held out: TenSEAL's ConvNet written by PyTorch compiles to stages that reproduce PyTorch's logits", () => {
  // fixtures/models/tenseal_convnet.{onnx,npz}: scripts/make_he_fixtures.py (torch.onnx.export; Conv, Mul, Reshape, Gemm).
  const arrays = parseNpz(readFileSync("fixtures/models/tenseal_convnet.npz"));
  const x = arrays.get("x")?.data as Float32Array;
  const logits = arrays.get("logits")?.data as Float32Array;
  const compiled = compileModel(loadModel("fixtures/models/tenseal_convnet.onnx"), { name: "tenseal", calibration: x, calibrationSamples: 8 });
  assert.equal(compiled.params.packing, "single");
  assert.equal(compiled.params.input.kind, "im2col");
  assert.equal(compiled.params.depth, 5);
  assert.deepEqual(
    compiled.report.activations.map((a) => a.origin),
    ["polynomial", "polynomial"],
  );
  const plain = evaluatePlain(compiled.stages, Float64Array.from(x), 8);
  for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(plain[i] - logits[i]) < 1e-5, `logit ${i}: ${plain[i]} vs PyTorch ${logits[i]}`);
});

test("logistic regression trained by Aegis on tabular data: encrypted predictions agree with plaintext on ≥ 99%", async () => {
  const trainSet = tabular(400, 2);
  const testSet = tabular(300, 3);
  const clf = await OnnxClassifier.create(buildArchitecture("linear", { inputShape: [8], numClasses: 2, seed: 0 }), { trainable: true, batchSize: 50 });
  await train(clf, { x: float32([400, 8], trainSet.x), labels: trainSet.labels }, { epochs: 15, batchSize: 50, optimizer: adam({ lr: 0.05 }), seed: 0 });
  const model = clf.exportModel();
  const logits = (await clf.predict(float32([300, 8], testSet.x))).data;
  await clf.release();

  const compiled = compileModel(model, { name: "lr", calibration: trainSet.x, calibrationSamples: 400, packing: "batch" });
  assert.equal(compiled.params.depth, 1);
  assert.equal(compiled.params.parameters.polyModulusDegree, 4096, "a depth-1 circuit fits the smallest secure degree");
  // The compiled stages are the ONNX model: same logits as ONNX Runtime.
  const plain = evaluatePlain(compiled.stages, Float64Array.from(testSet.x), 300);
  for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(plain[i] - logits[i]) < 1e-4, `logit ${i}: ${plain[i]} vs ${logits[i]}`);

  const result = await evaluateEncrypted(compiled, testSet.x, 300, { labels: testSet.labels });
  assert.equal(result.requests, 1, "300 samples fit one batch-packed request");
  assert.ok(result.agreement >= 0.99, `agreement ${result.agreement}`);
  assert.ok(result.maxError < 1e-3, `max logit error ${result.maxError}`);
  assert.ok((result.plainAccuracy ?? 0) > 0.8, `plaintext accuracy ${result.plainAccuracy}`);
  assert.ok(Math.abs((result.encryptedAccuracy ?? 0) - (result.plainAccuracy ?? 0)) <= 0.01);
});

test("the TenSEAL-shaped CNN (conv 7×7 stride 3, x², dense, x², dense) decrypts to its plaintext logits, one image per ciphertext", async () => {
  // 13×13 inputs keep it to seconds: 3×3 windows × 4 channels = 36 values into the dense layers.
  const model = buildArchitecture("he-cnn", { inputShape: [1, 13, 13], numClasses: 4, seed: 5 });
  const compiled = compileModel(model, { name: "cnn", calibration: uniform(50 * 169, 6), calibrationSamples: 50, packing: "single" });
  assert.equal(compiled.params.depth, 5, "conv, x², dense, x², dense");
  assert.equal(compiled.params.input.kind, "im2col");
  const result = await evaluateEncrypted(compiled, uniform(169, 7), 1);
  assert.ok(result.maxError < 1e-3 * Math.max(1, result.maxOutput), `max error ${result.maxError} on outputs up to ${result.maxOutput}`);
  assert.equal(result.agreement, 1);
});

test("batch packing (one sample per slot) gives an x² MLP's plaintext logits for every sample of a request", async () => {
  const model = buildArchitecture("he-mlp", { inputShape: [6], numClasses: 3, seed: 8 });
  const compiled = compileModel(model, { name: "mlp", calibration: uniform(50 * 6, 9), calibrationSamples: 50, packing: "batch" });
  assert.equal(compiled.params.depth, 3, "dense, x², dense");
  assert.equal(compiled.params.galoisSteps.length, 0, "no rotations: the server needs no Galois keys");
  const result = await evaluateEncrypted(compiled, uniform(5 * 6, 10), 5);
  assert.equal(result.requests, 1);
  assert.ok(result.maxError < 1e-3 * Math.max(1, result.maxOutput), `max error ${result.maxError} on outputs up to ${result.maxOutput}`);
  assert.equal(result.agreement, 1);
});

test("the server cannot hold the secret key, and nothing it receives carries plaintext in the clear", async () => {
  const model = buildArchitecture("linear", { inputShape: [8], numClasses: 2, seed: 0 });
  const compiled = compileModel(model, { name: "lr", calibration: tabular(50, 1).x, calibrationSamples: 50, packing: "single" });
  const keys = await generateKeys(compiled.params);
  const server = await HeEvaluator.create(compiled);
  // Handed the client's secret-key file, the server refuses it by its kind.
  assert.throws(
    () => server.loadKeys(keys.secretKey),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_DATA" && /holds secret-key/.test(e.message),
  );
  // The public-key file does not contain the secret key's bytes.
  const secret = decodeContainer(keys.secretKey, "secret-key", "sk").sections[0];
  assert.equal(keys.publicKeys.indexOf(Buffer.from(secret.subarray(secret.length - 64))), -1);
  const pub = decodeContainer(keys.publicKeys, "public-keys", "pub");
  assert.deepEqual(Object.keys(pub.header).sort(), ["kind", "paramsId"]);

  // A request's readable header names only what it is; the sample's values appear nowhere in it.
  const client = await HeClient.open(keys.secretKey);
  const sample = Float32Array.from([1.25, -2.5, 3.75, 0.5, 7.125, -1.5, 2.25, 4.5]);
  const request = client.encrypt(sample, 1);
  const { header } = decodeContainer(request, "request", "request");
  assert.deepEqual(Object.keys(header).sort(), ["keyId", "kind", "paramsId", "samples"]);
  assert.equal(request.indexOf(Buffer.from(sample.buffer)), -1);
  assert.equal(request.indexOf(Buffer.from(Float64Array.from(sample).buffer)), -1);
  assert.ok(!request.toString("latin1").includes("7.125"));

  // Yet the server computes the right answer without ever seeing it.
  const serverKeys = server.loadKeys(keys.publicKeys);
  const { outputs } = client.decrypt(server.infer(request, serverKeys));
  const plain = evaluatePlain(compiled.stages, Float64Array.from(sample), 1);
  assert.ok(Math.abs(outputs[0] - plain[0]) < 1e-3 && Math.abs(outputs[1] - plain[1]) < 1e-3, `${outputs} vs ${plain}`);
  serverKeys.release();
  client.release();
});
