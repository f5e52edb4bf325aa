/**
 * Online drift in the guard (gateway/drift.ts on monitoring's OnlineDriftMonitor), on MNIST's
 * 10,000 test digits through the bundled CNN: per repeat a fresh reference of 1,000 digits
 * and the other 9,000 streamed as 45 tumbling windows of 200, each checked in the worker at
 * α = 0.05 (the false-alarm rate per window), then windows of 15°-rotated digits, Gaussian
 * noise σ 0.1 and half-one-class batches (the detection rate per window). Then the cost on
 * the request path: one guard with the same model on two routes, one watching drift, and
 * the latency of 100-digit requests to each, alternated, in the same run.
 *
 * `npm run bench` runs 5 repeats; `node --import tsx bench/drift-online.ts 2` fewer.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRng, loadMnistFull } from "../src/data/index.js";
import { encodeNpy } from "../src/data/npy.js";
import { NPY_CONTENT_TYPE, startGuard } from "../src/gateway/index.js";
import {
  addGaussianNoise,
  fitDrift,
  fitReference,
  type Observation,
  OnlineDriftMonitor,
  openDriftModel,
  priorShiftRows,
  rotateImages,
  saveDriftDetector,
  selectRows,
} from "../src/monitoring/index.js";
import { sliceRows } from "../src/tensor.js";

const root = new URL("../", import.meta.url).pathname;
const model = `${root}models/mnist-cnn.onnx`;
const REFERENCE = 1000;
const WINDOW = 200;
const SHIFTED_WINDOWS = 5;

/** Streams `windows` to a monitor one at a time (no window skipped) and counts those reported as drift. */
async function driftedWindows(monitor: OnlineDriftMonitor, windows: Observation[], flagged: { count: number }): Promise<number> {
  const before = flagged.count;
  for (const w of windows) {
    monitor.observe(w);
    await monitor.idle();
  }
  return flagged.count - before;
}

async function windowRates(repeats: number): Promise<string[]> {
  const { x, y } = loadMnistFull("test");
  const labels = Array.from(y?.data ?? [], Number);
  const drift = await openDriftModel(model);
  const clean = await drift.observe(x);
  const rotated = await drift.observe(rotateImages(x, 15));
  const noisy = await drift.observe(addGaussianNoise(x, 0.1, createRng(7)));
  await drift.release();
  const totals = { clean: 0, cleanWindows: 0, rotated: 0, noisy: 0, prior: 0, shiftedWindows: 0 };
  for (let r = 0; r < repeats; r++) {
    const rng = createRng(2000 + r);
    const order = rng.shuffle(Array.from({ length: x.shape[0] }, (_, i) => i));
    const detector = fitReference(selectRows(clean, order.slice(0, REFERENCE)), { method: "mmd", permutations: 200, seed: r });
    const flagged = { count: 0 };
    const monitor = await OnlineDriftMonitor.start(detector, {
      window: WINDOW,
      seed: 1000 * r,
      onWindow: (c) => {
        if (c.drift) flagged.count++;
      },
    });
    const rest = order.slice(REFERENCE);
    const windowsOf = (source: Observation, rows: number[]) =>
      Array.from({ length: Math.floor(rows.length / WINDOW) }, (_, w) => selectRows(source, rows.slice(w * WINDOW, (w + 1) * WINDOW)));
    const cleanWindows = windowsOf(clean, rest);
    totals.clean += await driftedWindows(monitor, cleanWindows, flagged);
    totals.cleanWindows += cleanWindows.length;
    const shifted = rest.slice(0, SHIFTED_WINDOWS * WINDOW);
    totals.rotated += await driftedWindows(monitor, windowsOf(rotated, shifted), flagged);
    totals.noisy += await driftedWindows(monitor, windowsOf(noisy, shifted), flagged);
    const prior = Array.from({ length: SHIFTED_WINDOWS }, (_, w) =>
      selectRows(
        clean,
        priorShiftRows(
          rest.map((i) => labels[i]),
          (r + w) % 10,
          0.5,
          WINDOW,
          rng,
        ).map((i) => rest[i]),
      ),
    );
    totals.prior += await driftedWindows(monitor, prior, flagged);
    totals.shiftedWindows += SHIFTED_WINDOWS;
    await monitor.close();
  }
  const pct = (k: number, n: number) => `${((100 * k) / n).toFixed(1)}% (${k}/${n})`;
  return [
    `online drift, MNIST test digits through models/mnist-cnn.onnx: reference ${REFERENCE}, tumbling windows of ${WINDOW}, α = 0.05 per window, ${repeats} references`,
    `  clean windows reporting drift (false alarms): ${pct(totals.clean, totals.cleanWindows)}`,
    `  windows detected: rotated 15° ${pct(totals.rotated, totals.shiftedWindows)}, noise σ 0.1 ${pct(totals.noisy, totals.shiftedWindows)}, half one class ${pct(totals.prior, totals.shiftedWindows)}`,
  ];
}

/** Median and 99th-percentile latency of 100-digit requests to a route with drift and one without, alternated. */
async function requestCost(requests: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "aegis-bench-drift-"));
  const { x } = loadMnistFull("test");
  saveDriftDetector(join(dir, "drift.json"), await fitDrift(model, { x: sliceRows(x, 0, REFERENCE), name: "mnist test" }));
  writeFileSync(
    join(dir, "guard.yaml"),
    `server: { port: 0 }\nauth: { anonymousRoles: [predict] }\nauditLog: { path: audit.db }\nroutes:\n  - { name: plain, model: ${model} }\n  - { name: watched, model: ${model}, drift: { detector: drift.json, window: ${WINDOW} } }\n`,
  );
  const guard = await startGuard(join(dir, "guard.yaml"));
  const times: Record<string, number[]> = { plain: [], watched: [] };
  try {
    for (let i = 0; i < requests; i++) {
      const from = REFERENCE + ((i * 100) % 8900);
      const body = Buffer.from(encodeNpy(sliceRows(x, from, from + 100)));
      for (const route of i % 2 ? ["plain", "watched"] : ["watched", "plain"]) {
        const start = performance.now();
        const res = await fetch(`${guard.url}/v1/models/${route}:predict`, { method: "POST", headers: { "content-type": NPY_CONTENT_TYPE }, body });
        await res.arrayBuffer();
        times[route].push(performance.now() - start);
      }
    }
  } finally {
    await guard.close();
  }
  const quantile = (v: number[], q: number) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))];
  const [p50, p99] = [0.5, 0.99].map((q) => quantile(times.watched, q) / quantile(times.plain, q));
  return [
    `request latency, 100 digits per request, ${requests} requests per route (a window checked every 2 requests on the watched route):`,
    `  plain p50 ${quantile(times.plain, 0.5).toFixed(1)} ms, p99 ${quantile(times.plain, 0.99).toFixed(1)} ms; with drift p50 ${quantile(times.watched, 0.5).toFixed(1)} ms, p99 ${quantile(times.watched, 0.99).toFixed(1)} ms; ratio p50 ${p50.toFixed(2)}, p99 ${p99.toFixed(2)}`,
  ];
}

export async function benchDriftOnline(repeats = 5): Promise<string[]> {
  return [...(await windowRates(repeats)), ...(await requestCost(200))];
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDriftOnline(Number(process.argv[2] ?? 5))) console.log(line);
