/**
 * Attack speed: PGD-40 on 500 MNIST test images with the bundled CNN against the same
 * loop in PyTorch (ART's ProjectedGradientDescentPyTorch core; ART itself cannot be
 * installed here), then images/s of every registered white-box attack and queries/s of
 * the black-box ones on a smaller sample.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pgd } from "../src/attacks/evasion/pgd.js";
import { ATTACKS } from "../src/attacks/index.js";
import { attackMetrics } from "../src/attacks/metrics.js";
import { loadMnist, saveNpz } from "../src/data/index.js";
import { createRng } from "../src/data/random.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { labelsOf, sliceRows } from "../src/tensor.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;
const python = "/usr/bin/python3";

export async function benchAttacks(): Promise<string[]> {
  const lines: string[] = [];
  const { test } = loadMnist();
  const x = sliceRows(test.x, 0, 500);
  const y = labelsOf(test.y).slice(0, 500);
  const clf = await OnnxClassifier.fromFile(demo, { threads });
  await clf.lossGradient(sliceRows(x, 0, 128), y.slice(0, 128)); // build the gradient graph outside the timing
  const started = performance.now();
  const out = await pgd.run(clf, x, y, { ...pgd.defaults, eps: 0.3, epsStep: 0.01, maxIter: 40 }, { rng: createRng(0) });
  const seconds = (performance.now() - started) / 1000;
  const m = await attackMetrics(clf, x, out.x, y);

  let torch: { seconds: number; robust_accuracy: number } | undefined;
  if (existsSync(python)) {
    const data = join(mkdtempSync(join(tmpdir(), "aegis-bench-")), "mnist500.npz");
    saveNpz(data, { x, y: sliceRows(test.y, 0, 500) });
    try {
      const stdout = execFileSync(python, [new URL("torch_pgd.py", import.meta.url).pathname, demo, data, String(threads)], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      torch = JSON.parse(stdout.trim().split("\n").at(-1) as string);
    } catch {
      torch = undefined;
    }
  }
  lines.push(
    `PGD-40 L∞ ε=0.3 step 0.01 on 500 MNIST images: Aegis ${seconds.toFixed(1)} s (robust accuracy ${(m.robust_accuracy * 100).toFixed(1)}%)` +
      (torch
        ? `, PyTorch/ART loop ${torch.seconds.toFixed(1)} s (robust ${(torch.robust_accuracy * 100).toFixed(1)}%): ${(torch.seconds / seconds).toFixed(2)}× faster`
        : ", PyTorch reference not available"),
  );

  // Every attack on a small sample with its defaults: images/s, and queries/s for black-box ones.
  const n = Number(process.env.BENCH_ATTACK_SAMPLES ?? 20);
  const xs = sliceRows(x, 0, n);
  const ys = y.slice(0, n);
  for (const attack of ATTACKS) {
    const t0 = performance.now();
    // Query-hungry attacks get a 1,000-query budget (SimBA's iterations are its queries).
    const budget = "maxQueries" in attack.defaults ? { maxQueries: 1000 } : attack.name === "simba" ? { maxIter: 1000 } : {};
    // Targeted-by-nature attacks (JSMA, the patch) aim every image at class 0.
    const targets = attack.defaults.targeted ? ys.map(() => 0) : undefined;
    const run = await attack.run(clf, xs, targets ?? ys, { ...attack.defaults, ...budget }, { rng: createRng(0) });
    const s = (performance.now() - t0) / 1000;
    const q = run.queries ? Array.from(run.queries).reduce((a, b) => a + b, 0) : undefined;
    const r = await attackMetrics(clf, xs, run.x, ys, { queries: run.queries, targets });
    lines.push(
      `${attack.name.padEnd(18)} ${(n / s).toFixed(1).padStart(8)} images/s${q !== undefined ? ` ${(q / s).toFixed(0).padStart(8)} queries/s` : "".padEnd(18)}  robust accuracy ${(r.robust_accuracy * 100).toFixed(0)}% at its defaults${"maxQueries" in budget ? ", 1,000 queries" : ""}`,
    );
  }
  await clf.release();
  return lines;
}
