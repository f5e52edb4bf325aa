/**
 * Writes the tabular fixture of the constraint tests: a synthetic card-fraud data set
 * (fixtures/data/fraud.npz), an MLP trained on it by Aegis (fixtures/models/fraud_mlp.onnx,
 * with the per-feature standardisation inside the graph, so it takes raw features), and
 * the constraints a real transaction obeys (fixtures/data/fraud.constraints.json).
 * Deterministic: run `node --import tsx scripts/make-fraud-fixture.ts` from the repository root.
 *
 * The label is a noisy threshold of a risk score that every feature enters, so a model
 * that fits it has to use amounts, counts, account age, merchant category and the rest.
 */
import { writeFileSync } from "node:fs";
import { saveNpz } from "../src/data/dataset.js";
import { createRng } from "../src/data/random.js";
import { buildArchitecture } from "../src/engine/architectures.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { adam } from "../src/engine/optimizers.js";
import { countCorrect, train } from "../src/engine/trainer.js";
import { saveModel } from "../src/onnx/io.js";
import { float32, tensor } from "../src/tensor.js";

const FRAUD_FEATURES = [
  "amount",
  "transactions_today",
  "account_age_days",
  "merchant_grocery",
  "merchant_electronics",
  "merchant_travel",
  "merchant_gambling",
  "distance_from_home_km",
  "minutes_since_last",
  "ip_risk",
  "failed_logins",
  "card_present",
] as const;

const F = FRAUD_FEATURES.length;
const LOWER = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const UPPER = [10000, 50, 3650, 1, 1, 1, 1, 2000, 1440, 1, 10, 1];
const MERCHANT_RISK = [-1, 0.8, 0.3, 1.5];
const MERCHANT_SHARE = [0.4, 0.25, 0.2, 0.15];

function generate(n: number, seed: number) {
  const rng = createRng(seed);
  const x = new Float32Array(n * F);
  const y = new BigInt64Array(n);
  const clamp = (v: number, j: number) => Math.min(UPPER[j], Math.max(LOWER[j], v));
  for (let i = 0; i < n; i++) {
    const r = x.subarray(i * F, (i + 1) * F);
    r[0] = clamp(Math.round(Math.exp(4.5 + 1.3 * rng.normal()) * 100) / 100, 0);
    r[1] = clamp(Math.floor(Math.exp(0.8 + 0.8 * rng.normal())), 1);
    r[2] = rng.int(3651);
    let u = rng.next();
    let merchant = 0;
    while (merchant < 3 && u >= MERCHANT_SHARE[merchant]) u -= MERCHANT_SHARE[merchant++];
    r[3 + merchant] = 1;
    r[7] = clamp(Math.exp(2.5 + 1.5 * rng.normal()), 7);
    r[8] = rng.next() * 1440;
    r[9] = rng.next() ** 2;
    r[10] = clamp(Math.floor(-Math.log(1 - rng.next()) * 0.8), 10);
    r[11] = rng.next() < 0.6 ? 1 : 0;
    const score =
      1.0 * (Math.log1p(r[0]) - 5.5) +
      0.3 * (r[1] - 3) -
      0.9 * Math.log1p(r[2] / 30) +
      MERCHANT_RISK[merchant] +
      0.5 * (Math.log1p(r[7]) - 3) -
      0.5 * Math.log1p(r[8]) +
      3 * (r[9] - 0.35) +
      0.8 * r[10] -
      1.2 * r[11] +
      6.7;
    // About a quarter of the transactions are fraud; the noise keeps the classes overlapping.
    y[i] = score + 0.8 * rng.normal() > 0 ? 1n : 0n;
  }
  return { x: float32([n, F], x), y: tensor("int64", [n], y) };
}

async function main() {
  const trainSet = generate(4000, 1);
  const testSet = generate(1000, 2);
  const labels = (t: typeof trainSet.y) => Array.from(t.data, Number);
  const mean = new Array<number>(F).fill(0);
  const std = new Array<number>(F).fill(0);
  const n = trainSet.x.shape[0];
  for (let i = 0; i < n; i++) for (let j = 0; j < F; j++) mean[j] += trainSet.x.data[i * F + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < F; j++) std[j] += (trainSet.x.data[i * F + j] - mean[j]) ** 2 / n;
  for (let j = 0; j < F; j++) std[j] = Math.sqrt(std[j]) || 1;

  const model = buildArchitecture("mlp", { inputShape: [F], numClasses: 2, seed: 0 });
  const clf = await OnnxClassifier.create(model, { trainable: true, preprocessing: { mean, std }, clipRange: [0, 10000] });
  await train(clf, { x: trainSet.x, labels: labels(trainSet.y) }, { epochs: 30, batchSize: 64, optimizer: adam({ lr: 1e-3 }), seed: 0 });
  const accuracy = countCorrect(await clf.predict(testSet.x), labels(testSet.y)) / testSet.x.shape[0];
  const fraudShare = labels(testSet.y).filter((c) => c === 1).length / testSet.x.shape[0];
  process.stdout.write(`test accuracy ${(accuracy * 100).toFixed(1)}%, fraud share ${(fraudShare * 100).toFixed(1)}%\n`);

  saveModel("fixtures/models/fraud_mlp.onnx", clf.exportModel());
  saveNpz("fixtures/data/fraud.npz", { x_train: trainSet.x, y_train: trainSet.y, x_test: testSet.x, y_test: testSet.y });
  const constraints = {
    features: FRAUD_FEATURES,
    lower: LOWER,
    upper: UPPER,
    immutable: ["account_age_days", "ip_risk", "failed_logins"],
    integer: ["transactions_today", "account_age_days", "failed_logins", "card_present"],
    one_hot: [["merchant_grocery", "merchant_electronics", "merchant_travel", "merchant_gambling"]],
  };
  writeFileSync("fixtures/data/fraud.constraints.json", `${JSON.stringify(constraints, null, 2)}\n`);
  await clf.release();
}

await main();
