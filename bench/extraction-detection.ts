/**
 * Run-time query-stream detectors on the bundled MNIST CNN: for PRADA (Juuti et al. 2019)
 * the queries until its alarm on each extraction stream and its false alarms on 5,000
 * benign queries; for the stateful k-NN detector (Chen, Carlini & Wagner 2019) the queries
 * until its first alarm on each black-box attack and its false alarms on benign clients; and
 * both detectors' cost per query, which is what the gateway adds to each request. Costs are
 * this process's CPU time (user + system) per query, so other load on the machine does not
 * inflate them.
 */
import { hopskipjump } from "../src/attacks/evasion/hopskipjump.js";
import { simba } from "../src/attacks/evasion/simba.js";
import { square } from "../src/attacks/evasion/square.js";
import { loadMnist } from "../src/data/index.js";
import { createRng } from "../src/data/random.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { createPradaDetector, PRADA_DEFAULTS } from "../src/gateway/detectors/prada.js";
import { calibrate, createStatefulKnnDetector, STATEFUL_KNN_DEFAULTS } from "../src/gateway/detectors/stateful-knn.js";
import { labelsOf, sliceRows } from "../src/tensor.js";
import {
  jacobianAugmentationStream,
  lightlyAugmented,
  lineSearchStream,
  predictedClasses,
  recordingPredictor,
  row,
  uniformNoiseStream,
} from "./extraction-streams.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;

/** CPU microseconds spent since `start` (a process.cpuUsage() reading). */
const cpuMicros = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return used.user + used.system;
};

export async function benchExtractionDetection(): Promise<string[]> {
  const lines: string[] = [];
  const clf = await OnnxClassifier.fromFile(demo, { threads });
  const { train, test } = loadMnist();
  const testImages = Array.from({ length: 2000 }, (_, i) => row(test.x, i));
  const rng = createRng(3);

  const prada = async (rows: Float32Array[]) => {
    const classes = await predictedClasses(clf, rows);
    const detector = createPradaDetector();
    let first = 0;
    let alarms = 0;
    let minW = 1;
    const started = process.cpuUsage();
    rows.forEach((x, i) => {
      const o = detector.observe(x, classes[i]);
      if (o.alarm) {
        alarms++;
        first ||= i + 1;
      }
      minW = Math.min(minW, o.w ?? 1);
    });
    return { first, alarms, minW, us: cpuMicros(started) / rows.length };
  };
  const seeds = Array.from({ length: 100 }, (_, i) => testImages[i]);
  const attacks: [string, Float32Array[]][] = [
    ["uniform noise + line search (Tramèr et al. 2016)", await lineSearchStream(clf, 1000, createRng(7))],
    ["Jacobian augmentation, 100 seeds, λ 0.1 (Papernot et al. 2017)", await jacobianAugmentationStream(clf, seeds, 1000)],
    ["i.i.d. uniform noise", uniformNoiseStream(1000, createRng(8))],
  ];
  lines.push(`PRADA (δ ${PRADA_DEFAULTS.delta}, |D| > ${PRADA_DEFAULTS.minQueries}, maxHistory ${PRADA_DEFAULTS.maxHistory}):`);
  for (const [name, rows] of attacks) {
    const r = await prada(rows);
    lines.push(
      r.first
        ? `  ${name}: alarm at query ${r.first} (min W ${r.minW.toFixed(3)})`
        : `  ${name}: no alarm in ${rows.length} queries (min W ${r.minW.toFixed(3)}) — distances of i.i.d. points are themselves near-normal, PRADA's known blind spot`,
    );
  }
  const benign = [...testImages, ...Array.from({ length: 3000 }, (_, i) => lightlyAugmented(testImages[i % 2000], rng))];
  const b1 = await prada(benign);
  lines.push(
    `  benign, 2,000 test digits + 3,000 shifted/noisy copies: ${b1.alarms} false alarms in 5,000 queries (min W ${b1.minW.toFixed(3)}), ${b1.us.toFixed(0)} µs CPU/query`,
  );
  const b2 = await prada(Array.from({ length: 5000 }, (_, i) => row(train.x, i)));
  lines.push(`  benign, 5,000 train digits: ${b2.alarms} false alarms (min W ${b2.minW.toFixed(3)}), ${b2.us.toFixed(0)} µs CPU/query`);
  const b3 = await prada(Array.from({ length: 5000 }, (_, i) => testImages[i % 2000]));
  lines.push(`  the 2,000 test digits sent 2.5 times over (exact repeats): ${b3.first ? `alarm at query ${b3.first}` : "no alarm"}`);

  const k = STATEFUL_KNN_DEFAULTS.k;
  const calibrationStart = process.cpuUsage();
  const threshold = calibrate(
    Array.from({ length: STATEFUL_KNN_DEFAULTS.maxHistory }, (_, i) => row(train.x, i)),
    { k, fpr: STATEFUL_KNN_DEFAULTS.fpr },
  );
  const calibrationSeconds = cpuMicros(calibrationStart) / 1e6;
  const knn = (rows: Float32Array[]) => {
    const detector = createStatefulKnnDetector({ threshold });
    let first = 0;
    let judged = 0;
    const started = process.cpuUsage();
    let detections = 0;
    rows.forEach((x, i) => {
      const o = detector.observe(x);
      if (o.meanDistance !== undefined) judged++;
      if (o.alarm) first ||= i + 1;
      detections = o.detections;
    });
    return { first, judged, detections, us: cpuMicros(started) / rows.length };
  };
  lines.push(
    `Stateful k-NN (k ${k}, raw pixels, buffer ${STATEFUL_KNN_DEFAULTS.maxHistory}; δ ${threshold.toFixed(3)} at ${STATEFUL_KNN_DEFAULTS.fpr * 100}% FPR from ${STATEFUL_KNN_DEFAULTS.maxHistory} train digits, ${calibrationSeconds.toFixed(1)} s CPU):`,
  );
  const x = sliceRows(test.x, 0, 5);
  const y = labelsOf(test.y).slice(0, 5);
  const clients = {
    "Square L∞ ε 0.3, 5 images": recordingPredictor(clf),
    "SimBA-DCT, 2 images × 500 iterations": recordingPredictor(clf),
    "HopSkipJump L2, 1 image, 2,000 queries": recordingPredictor(clf),
  };
  const [squareClient, simbaClient, hsjClient] = Object.values(clients);
  await square.run(squareClient, x, y, { ...square.defaults, maxQueries: 1000, batchSize: 1 }, { rng: createRng(0) });
  await simba.run(simbaClient, sliceRows(x, 0, 2), y.slice(0, 2), { ...simba.defaults, maxIter: 500, batchSize: 1 }, { rng: createRng(0) });
  await hopskipjump.run(hsjClient, sliceRows(x, 0, 1), y.slice(0, 1), { ...hopskipjump.defaults, maxQueries: 2000, batchSize: 1 }, { rng: createRng(0) });
  for (const [name, client] of Object.entries(clients)) {
    const r = knn(client.queries);
    lines.push(`  ${name}: first alarm at query ${r.first || "never"}, ${r.detections} detections in ${client.queries.length} queries`);
  }
  for (const [name, rows] of [
    ["2,000 test digits", testImages],
    ["5,000 train digits not used to calibrate", Array.from({ length: 5000 }, (_, i) => row(train.x, 3000 + i))],
  ] as const) {
    const r = knn(rows);
    lines.push(`  benign, ${name}: ${r.detections} false alarms in ${r.judged} judged queries, ${r.us.toFixed(0)} µs CPU/query`);
  }
  await clf.release();
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await benchExtractionDetection()) console.log(line);
}
