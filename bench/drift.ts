/**
 * Drift detection on MNIST at α = 0.05 (Bonferroni over MMD, predicted classes and
 * confidence): the false-alarm rate over many disjoint reference/current splits of the
 * 10,000 test digits, and the detection rate of 15° rotations, Gaussian noise σ 0.1 and a
 * class-prior shift (half the batch one class) in batches of 50 to 1,000 digits, for the
 * bundled CNN and for a PyTorch-trained CNN (fixtures/adversarial/torch_cnn.onnx). Each
 * repeat draws a fresh reference of 1,000 digits and a disjoint current batch. Then the
 * tabular detector on the fraud fixture's 5,000 rows: false alarms over random splits and
 * the detection rate of amounts 10% and 30% higher.
 */
import { readFileSync } from "node:fs";
import { createRng, loadDataset, loadMnistFull } from "../src/data/index.js";
import {
  addGaussianNoise,
  compareToReference,
  fitReference,
  type Observation,
  openDriftModel,
  priorShiftRows,
  rotateImages,
  selectRows,
} from "../src/monitoring/index.js";

const root = new URL("../", import.meta.url).pathname;
const REFERENCE = 1000;
const SHIFTS = [
  { shift: "rotated", label: "rotated 15°", sizes: [50, 100, 200] },
  { shift: "noisy", label: "noise σ 0.1", sizes: [200, 500, 1000] },
  { shift: "prior", label: "half one class", sizes: [50, 100, 200] },
] as const;
const FALSE_ALARM_REPEATS = 200;
const SHIFT_REPEATS = 20;

interface Views {
  clean: Observation;
  rotated: Observation;
  noisy: Observation;
  labels: Float64Array;
}

async function views(modelPath: string): Promise<Views> {
  const { x, y } = loadMnistFull("test");
  const model = await openDriftModel(modelPath);
  try {
    return {
      clean: await model.observe(x),
      rotated: await model.observe(rotateImages(x, 15)),
      noisy: await model.observe(addGaussianNoise(x, 0.1, createRng(7))),
      labels: Float64Array.from(y?.data ?? [], Number),
    };
  } finally {
    await model.release();
  }
}

/** Share of repeats that report drift, with a fresh reference and a disjoint current batch of `size` each time. */
function detectionRate(v: Views, shift: "none" | "rotated" | "noisy" | "prior", size: number, repeats: number, permutations = 100): number {
  let detected = 0;
  const n = v.clean.values.rows;
  for (let r = 0; r < repeats; r++) {
    const rng = createRng(1000 + r);
    const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    const detector = fitReference(selectRows(v.clean, order.slice(0, REFERENCE)), { method: "mmd", permutations, seed: r });
    const pool = order.slice(REFERENCE);
    let current: Observation;
    if (shift === "prior") {
      const labels = pool.map((i) => v.labels[i]);
      current = selectRows(
        v.clean,
        priorShiftRows(labels, r % 10, 0.5, size, rng).map((i) => pool[i]),
      );
    } else {
      const source = shift === "none" ? v.clean : shift === "rotated" ? v.rotated : v.noisy;
      current = selectRows(source, pool.slice(0, size));
    }
    if (compareToReference(detector, current, r).drift) detected++;
  }
  return detected / repeats;
}

/** Share of random fraud splits (2,000 reference rows, 500 current) reporting drift, with amounts scaled by `factor`. */
async function fraudRates(factors: readonly number[], repeats: number): Promise<number[]> {
  const fixture = `${root}fixtures/data/fraud.npz`;
  const names: string[] = JSON.parse(readFileSync(`${root}fixtures/data/fraud.constraints.json`, "utf8")).features;
  const train = loadDataset(fixture, { xKey: "x_train" }).x;
  const test = loadDataset(fixture, { xKey: "x_test" }).x;
  const model = await openDriftModel(`${root}fixtures/models/fraud_mlp.onnx`);
  const all = await model.observe({ dtype: "float32", shape: [5000, 12], data: Float32Array.from([...train.data, ...test.data]) });
  await model.release();
  const amount = names.indexOf("amount");
  return factors.map((factor) => {
    let detected = 0;
    for (let r = 0; r < repeats; r++) {
      const order = createRng(r).shuffle(Array.from({ length: 5000 }, (_, i) => i));
      const detector = fitReference(selectRows(all, order.slice(0, 2000)), { method: "features", featureNames: names });
      const current = selectRows(all, order.slice(2000, 2500));
      for (let i = 0; i < 500; i++) current.values.data[i * 12 + amount] *= factor;
      if (compareToReference(detector, current).drift) detected++;
    }
    return detected / repeats;
  });
}

export async function benchDrift(): Promise<string[]> {
  const lines = ["drift detection on MNIST test digits, α = 0.05 (MMD on penultimate features + predicted classes + confidence, Bonferroni)"];
  for (const [name, path] of [
    ["Aegis CNN (models/mnist-cnn.onnx)", "models/mnist-cnn.onnx"],
    ["PyTorch CNN (fixtures/adversarial/torch_cnn.onnx)", "fixtures/adversarial/torch_cnn.onnx"],
  ]) {
    const v = await views(`${root}${path}`);
    lines.push(`${name}: reference ${REFERENCE} digits, current batch of n digits, share of repeats reporting drift`);
    const falseAlarms = detectionRate(v, "none", 200, FALSE_ALARM_REPEATS);
    lines.push(`  no drift (fresh sample), n = 200, ${FALSE_ALARM_REPEATS} repeats: false alarms ${(falseAlarms * 100).toFixed(1)}%`);
    for (const { shift, label, sizes } of SHIFTS) {
      const rates = sizes.map((size) => `n=${size} ${(detectionRate(v, shift, size, SHIFT_REPEATS) * 100).toFixed(0)}%`);
      lines.push(`  ${label}, ${SHIFT_REPEATS} repeats: ${rates.join(", ")}`);
    }
  }
  const [none, small, large] = await fraudRates([1, 1.1, 1.3], 500);
  lines.push(
    "fraud fixture (12 features: KS, chi-square, + predicted classes and confidence, Bonferroni), reference 2,000 rows, current 500, 500 repeats:",
    `  no drift ${(none * 100).toFixed(1)}% false alarms; amount ×1.1 detected ${(small * 100).toFixed(0)}%, ×1.3 ${(large * 100).toFixed(0)}%`,
  );
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDrift()) console.log(line);
