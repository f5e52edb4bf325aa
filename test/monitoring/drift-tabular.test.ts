import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createRng, loadDataset } from "../../src/data/index.js";
import { checkDrift, compareToReference, fitDrift, fitReference, type Observation, openDriftModel, selectRows } from "../../src/monitoring/index.js";
import { float32, type Tensor } from "../../src/tensor.js";
import { schemaValidator } from "../helpers/schemas.js";

const fixtures = new URL("../../fixtures/", import.meta.url).pathname;
const MODEL = `${fixtures}models/fraud_mlp.onnx`;
const names: string[] = JSON.parse(readFileSync(`${fixtures}data/fraud.constraints.json`, "utf8")).features;
const train = loadDataset(`${fixtures}data/fraud.npz`, { xKey: "x_train", yKey: "y_train" });
const current = loadDataset(`${fixtures}data/fraud.npz`, { xKey: "x_test", yKey: "y_test" });

/** x with feature f mapped through `shift`. */
function shifted(x: Tensor<"float32">, f: number, shift: (v: number, row: number) => number): Tensor<"float32"> {
  const out = x.data.slice();
  const width = x.shape[1];
  for (let i = 0; i < x.shape[0]; i++) out[i * width + f] = shift(out[i * width + f], i);
  return float32(x.shape, out);
}

test("the fraud fixture's test split does not drift from its training split; each feature gets the test its type calls for", async () => {
  const file = await fitDrift(MODEL, train, { featureNames: names });
  const types = Object.fromEntries((file.detector.features ?? []).map((f) => [f.name, f.type]));
  // One-hot merchants, card present and the few failed-login counts are categorical; amounts and distances continuous.
  assert.equal(types.merchant_travel, "categorical");
  assert.equal(types.card_present, "categorical");
  assert.equal(types.amount, "continuous");
  assert.equal(types.distance_from_home_km, "continuous");
  const report = await checkDrift(file, current);
  assert.equal(report.tests.length, names.length + 2);
  assert.equal(report.drift, false, JSON.stringify(report.tests.filter((t) => t.pValue < 0.05)));
  assert.deepEqual(report.findings, []);
  assert.equal(report.histograms?.length, names.length);
});

test("a covariate shift of one fraud feature is detected and that feature, only it, is named", async () => {
  const file = await fitDrift(MODEL, train, { featureNames: names });
  const amount = names.indexOf("amount");
  // Amounts 30% higher: a currency change upstream, or fraudsters probing larger payments.
  const report = await checkDrift(file, { x: shifted(current.x, amount, (v) => v * 1.3), name: "fraud-test-amount-x1.3" });
  assert.equal(report.drift, true);
  const drifted = report.tests.filter((t) => t.kind === "feature" && t.drifted).map((t) => t.name);
  assert.deepEqual(drifted, ["amount"]);
  const finding = report.findings.find((f) => f.rule === "AEGIS-DRIFT-FEATURE");
  assert.equal(finding?.location.symbol, "amount");
  assert.ok((finding?.evidence.current_mean ?? 0) > (finding?.evidence.reference_mean ?? 0) * 1.15, JSON.stringify(finding?.evidence));
  const validate = schemaValidator("finding.schema.json");
  for (const f of report.findings) assert.ok(validate(f), `${f.rule}: ${JSON.stringify(validate.errors)}`);

  // A categorical shift: a fifth of the transactions moved to the gambling merchant.
  const grocery = names.indexOf("merchant_grocery");
  const gambling = names.indexOf("merchant_gambling");
  const rows = current.x.shape[1];
  const moved = shifted(current.x, 0, (v) => v);
  for (let i = 0; i < current.x.shape[0]; i += 5) {
    for (let f = grocery; f <= gambling; f++) moved.data[i * rows + f] = f === gambling ? 1 : 0;
  }
  const categorical = await checkDrift(file, { x: moved, name: "fraud-test-gambling" });
  const named = categorical.tests.filter((t) => t.kind === "feature" && t.drifted);
  assert.ok(
    named.some((t) => t.name === "merchant_gambling" && t.test === "chi-square"),
    JSON.stringify(named),
  );
  assert.ok(named.every((t) => t.name.startsWith("merchant_")));
});

test("false alarms on tabular data stay near α over random splits of the fraud rows (per-feature tests, Bonferroni)", async () => {
  const model = await openDriftModel(MODEL);
  let all: Observation;
  try {
    all = await model.observe(float32([5000, 12], Float32Array.from([...train.x.data, ...current.x.data])));
  } finally {
    await model.release();
  }
  const repeats = 100;
  let alarms = 0;
  for (let r = 0; r < repeats; r++) {
    const order = createRng(r).shuffle(Array.from({ length: 5000 }, (_, i) => i));
    const detector = fitReference(selectRows(all, order.slice(0, 2000)), { method: "features", featureNames: names });
    if (compareToReference(detector, selectRows(all, order.slice(2000, 2500))).drift) alarms++;
  }
  // α = 0.05 is an upper bound: KS with tied integer values and Bonferroni are both conservative.
  // 100 repeats: a true rate of 5% exceeds 11% with probability below 1%.
  assert.ok(alarms / repeats <= 0.11, `${alarms} false alarms in ${repeats}`);
  // Power on the same splits' scale: amounts up 30% in 500 rows are always seen.
  const amount = names.indexOf("amount");
  const detector = fitReference(
    selectRows(
      all,
      Array.from({ length: 2000 }, (_, i) => i),
    ),
    { method: "features", featureNames: names },
  );
  const cur = selectRows(
    all,
    Array.from({ length: 500 }, (_, i) => 2000 + i),
  );
  const data = cur.values.data;
  for (let i = 0; i < 500; i++) data[i * 12 + amount] *= 1.3;
  assert.deepEqual(
    compareToReference(detector, cur)
      .tests.filter((t) => t.drifted)
      .map((t) => t.name),
    ["amount"],
  );
});
