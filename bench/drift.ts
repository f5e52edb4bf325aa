/**
 * Drift detection on MNIST at α = 0.05 (Bonferroni over MMD, predicted classes and
 * confidence): the false-alarm rate over many disjoint reference/current splits of the
 * 10,000 test digits, and the detection rate of 15° rotations, Gaussian noise σ 0.1 and a
 * class-prior shift (half the batch one class) at 50, 100 and 200 current digits, for the
 * bundled CNN and for a PyTorch-trained CNN (fixtures/adversarial/torch_cnn.onnx). Each
 * repeat draws a fresh reference of 1,000 digits and a disjoint current batch.
 */
import { createRng, loadMnistFull } from "../src/data/index.js";
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

const REFERENCE = 1000;
const SIZES = [50, 100, 200];

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
export function detectionRate(v: Views, shift: "none" | "rotated" | "noisy" | "prior", size: number, repeats: number, permutations = 100): number {
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

export async function benchDrift(): Promise<string[]> {
  const lines = ["drift detection on MNIST test digits, α = 0.05 (MMD on penultimate features + predicted classes + confidence, Bonferroni)"];
  for (const [name, path] of [
    ["Aegis CNN (models/mnist-cnn.onnx)", "models/mnist-cnn.onnx"],
    ["PyTorch CNN (fixtures/adversarial/torch_cnn.onnx)", "fixtures/adversarial/torch_cnn.onnx"],
  ]) {
    const v = await views(path);
    lines.push(`${name}: reference ${REFERENCE} digits, current batch of n digits, share of repeats reporting drift`);
    lines.push(`  no drift (fresh sample), n = 200, 200 repeats: false alarms ${(detectionRate(v, "none", 200, 200) * 100).toFixed(1)}%`);
    for (const shift of ["rotated", "noisy", "prior"] as const) {
      const rates = SIZES.map((size) => `n=${size} ${(detectionRate(v, shift, size, 50) * 100).toFixed(0)}%`);
      lines.push(`  ${shift === "rotated" ? "rotated 15°" : shift === "noisy" ? "noise σ 0.1" : "half one class"}, 50 repeats: ${rates.join(", ")}`);
    }
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDrift()) console.log(line);
