import { Command } from "commander";
import type { Dataset } from "../../data/index.js";
import type { Detector } from "../../defenses/index.js";
import {
  auroc,
  type FittedDetector,
  featureSqueezingDetector,
  fitCombined,
  fitFeatureSqueezing,
  fitKnnOod,
  fitMahalanobis,
  fitMahalanobisEnsemble,
  fitStrip,
  flaggedFraction,
  INPUT_LAYER,
  inputFeatures,
  isMahalanobisEnsemble,
  KNN_OOD_DEFAULTS,
  layerFeatures,
  loadDetector,
  MAHALANOBIS_ENSEMBLE_DEFAULTS,
  parseSqueezers,
  STRIP_DEFAULTS,
  saveDetector,
} from "../../defenses/index.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { createFeatureExtractor, type FeatureExtractor } from "../../engine/features.js";
import type { RuntimeOptions } from "../../engine/runtime.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { calibrate, STATEFUL_KNN_DEFAULTS } from "../../gateway/index.js";
import { loadModel } from "../../onnx/io.js";
import type { Model } from "../../onnx/ir.js";
import { labelsOf, sliceRows, type Tensor } from "../../tensor.js";
import { info, loadData, printJson } from "../common.js";
import { parseInteger, parseNumber, runtimeOptions, withBatchSize, withData, withJson, withOut, withRuntime, withSamples } from "../options.js";

const DETECTORS = ["feature-squeezing", "mahalanobis", "knn-ood", "combined", "strip"] as const;
const DEFAULT_FPR = 0.05;
/** --layer value naming every Relu output of the model, for the Mahalanobis ensemble. */
const ALL_RELU = "all-relu";

/** The layers of a Mahalanobis detector: one name, a comma-separated list, or every Relu output. */
function mahalanobisLayers(spec: string | undefined, model: Model): (string | undefined)[] {
  if (spec === undefined) return [undefined];
  if (spec === ALL_RELU) {
    const relus = model.graph.nodes.filter((n) => n.opType === "Relu").map((n) => n.outputs[0]);
    if (relus.length === 0)
      throw new AegisError("BAD_OPTION", `the model has no Relu layers for --layer ${ALL_RELU}; list the layers by name (aegis inspect lists them)`);
    return relus;
  }
  const layers = spec.split(",").map((l) => l.trim());
  if (layers.some((l) => l === "")) throw new AegisError("BAD_OPTION", `--layer "${spec}" has an empty layer name; separate names with single commas`);
  return layers;
}

export function detectCommand(): Command {
  return new Command("detect")
    .description("adversarial-input and out-of-distribution detectors: fit one on clean data, score inputs")
    .addCommand(fitCommand())
    .addCommand(scoreCommand())
    .addCommand(statefulKnnCommand());
}

function firstRows(data: Dataset, limit: number | undefined): Dataset {
  const n = Math.min(limit ?? data.x.shape[0], data.x.shape[0]);
  return { ...data, x: sliceRows(data.x, 0, n), y: data.y && sliceRows(data.y, 0, n) };
}

/**
 * δ for the guard's stateful k-NN detector (routes[].detectors.stateful-knn.threshold), from
 * benign queries like the route's clients': by default for a benign stream of
 * --stream-queries raising --stream-false-alarms alarms on average, or Chen et al.'s
 * per-query --fpr. It needs no model: the guard measures distances on the raw instances.
 */
function statefulKnnCommand(): Command {
  const cmd = new Command("stateful-knn")
    .description("calibrate the guard's stateful k-NN threshold δ on benign queries and print the route's detector settings")
    .option("--k <n>", "neighbours averaged (Chen et al.: 50)", parseInteger("--k", 1), STATEFUL_KNN_DEFAULTS.k)
    .option(
      "--max-history <n>",
      "queries the guard keeps per client (each benign query is scored against this many others)",
      parseInteger("--max-history", 2),
      STATEFUL_KNN_DEFAULTS.maxHistory,
    )
    .option(
      "--stream-queries <n>",
      "queries in the benign client's stream the target is set for",
      parseInteger("--stream-queries", 1),
      STATEFUL_KNN_DEFAULTS.streamQueries,
    )
    .option(
      "--stream-false-alarms <n>",
      "false alarms allowed on average over such a stream",
      parseNumber("--stream-false-alarms"),
      STATEFUL_KNN_DEFAULTS.streamFalseAlarms,
    )
    .option("--fpr <rate>", "a per-query false-positive rate instead (Chen et al.'s setting: 0.001), the empirical quantile", parseNumber("--fpr"));
  withData(cmd, "benign queries like the route's clients' (several buffers' worth)", "mnist", { split: "train" });
  withSamples(cmd);
  withJson(cmd, "the threshold and settings");
  return cmd.action((opts) => {
    const data = firstRows(loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: opts.split }), opts.samples);
    const [n, ...shape] = data.x.shape;
    const size = shape.reduce((a: number, b: number) => a * b, 1);
    const queries = Array.from({ length: n }, (_, i) => data.x.data.subarray(i * size, (i + 1) * size));
    const target = opts.fpr === undefined ? { streamQueries: opts.streamQueries, streamFalseAlarms: opts.streamFalseAlarms } : { fpr: opts.fpr };
    const threshold = calibrate(queries, { k: opts.k, maxHistory: opts.maxHistory, ...target });
    const aim =
      opts.fpr === undefined
        ? `${opts.streamFalseAlarms} false alarms on average per benign stream of ${opts.streamQueries} queries`
        : `${(opts.fpr * 100).toPrecision(2)}% false positives per benign query`;
    info(`δ ${threshold.toPrecision(6)} from ${n} queries of ${data.name}, for ${aim}; in the route's guard.yaml:`);
    const settings = { threshold: Number(threshold.toPrecision(6)), k: opts.k, maxHistory: opts.maxHistory };
    if (opts.json) printJson({ detector: "stateful-knn", ...settings, queries: n, ...target });
    else process.stdout.write(`detectors:\n  stateful-knn: {threshold: ${settings.threshold}, k: ${settings.k}, maxHistory: ${settings.maxHistory}}\n`);
  });
}

function fitCommand(): Command {
  const cmd = new Command("fit")
    .description("fit a detector on clean data; its threshold flags --fpr of clean inputs")
    .requiredOption("--model <file>", "ONNX model the detector guards")
    .requiredOption("--detector <name>", `${DETECTORS.join(" | ")}`)
    .option("--calibration-data <spec>", "other clean data to set the threshold on (default: --data); built-in sets use their test split")
    .option(
      "--fpr <rate>",
      `false-positive rate of the threshold on clean data (default ${DEFAULT_FPR}; knn-ood ${KNN_OOD_DEFAULTS.fpr}; strip ${STRIP_DEFAULTS.fpr}, Gao et al.'s false-rejection rate)`,
      parseNumber("--fpr"),
    )
    .option("--squeezers <list>", "feature squeezing and combined: squeezers (Xu et al.'s MNIST setting: bits=1,median=2)", "bits=1,median=2")
    .option("--channels-last", "feature squeezing: images are [N, H, W, C]")
    .option(
      "--layer <name>",
      `mahalanobis, knn-ood: the value to model (default: the penultimate layer; knn-ood also takes "${INPUT_LAYER}", the raw input); mahalanobis also takes a comma-separated list or "${ALL_RELU}" for Lee et al.'s ensemble; combined: the Mahalanobis members' layers (default: the first Relu)`,
    )
    .option("--noise <eps>", "mahalanobis: input pre-processing magnitude ε (Lee et al.)", parseNumber("--noise"), 0)
    .option(
      "--ensemble-against <kind>",
      `mahalanobis with several layers (--layer a,b,c or ${ALL_RELU}): the regression's positives, fgsm (examples of the held-out slice) or noise (Gaussian, attack-agnostic)`,
      MAHALANOBIS_ENSEMBLE_DEFAULTS.against,
    )
    .option(
      "--ensemble-eps <size>",
      "mahalanobis ensemble: FGSM's ε or the noise's σ",
      parseNumber("--ensemble-eps"),
      MAHALANOBIS_ENSEMBLE_DEFAULTS.perturbation,
    )
    .option(
      "--ensemble-samples <n>",
      "mahalanobis ensemble: last samples of --data held out from the Gaussians to fit the regression (default: a fifth, at most 1000)",
      parseInteger("--ensemble-samples", 2),
    )
    .option("--overlays <n>", "strip: clean images each input is superimposed on (Gao et al.: 100)", parseInteger("--overlays", 1), STRIP_DEFAULTS.overlays)
    .option("--k <n>", "knn-ood: the neighbour whose distance is the score", parseInteger("--k", 1), KNN_OOD_DEFAULTS.k)
    .option(
      "--bank-size <n>",
      "knn-ood: training features kept (the rest of --data sets the threshold)",
      parseInteger("--bank-size", 1),
      KNN_OOD_DEFAULTS.bankSize,
    );
  withData(cmd, "clean data to fit on", "mnist", { split: "train" });
  withSamples(cmd);
  withBatchSize(cmd, 256);
  withOut(cmd, "where to write the detector (JSON)", undefined, true);
  withJson(cmd, "the detector summary");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    if (!DETECTORS.includes(opts.detector)) throw new AegisError("BAD_OPTION", `--detector must be one of ${DETECTORS.join(", ")}, not "${opts.detector}"`);
    const data = firstRows(loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: opts.split }), opts.samples);
    const calibration = opts.calibrationData ? loadData(opts.calibrationData, { xKey: opts.xKey, yKey: opts.yKey, split: "test" }) : undefined;
    const runtime = { ...runtimeOptions(opts), batchSize: opts.batchSize };
    const fpr: number = opts.fpr ?? (opts.detector === "knn-ood" ? KNN_OOD_DEFAULTS.fpr : opts.detector === "strip" ? STRIP_DEFAULTS.fpr : DEFAULT_FPR);
    let detector: FittedDetector;
    if (opts.detector === "feature-squeezing") {
      const model = await OnnxClassifier.fromFile(opts.model, runtime);
      detector = await fitFeatureSqueezing(model, (calibration ?? data).x, {
        fpr,
        squeezers: parseSqueezers(opts.squeezers),
        channelsFirst: !opts.channelsLast,
      });
      await model.release();
    } else if (opts.detector === "strip") {
      const model = await OnnxClassifier.fromFile(opts.model, runtime);
      try {
        detector = await fitStrip(model, data.x, { fpr, overlays: opts.overlays, calibration: calibration?.x });
      } finally {
        await model.release();
      }
    } else if (opts.detector === "knn-ood") {
      const options = { fpr, k: opts.k, bankSize: opts.bankSize, calibration: calibration?.x };
      if (opts.layer === INPUT_LAYER) detector = await fitKnnOod(inputFeatures, data.x, options);
      else {
        const extractor = await createFeatureExtractor(loadModel(opts.model), { ...runtime, layer: opts.layer });
        try {
          detector = await fitKnnOod(layerFeatures(extractor), data.x, options);
        } finally {
          await extractor.release();
        }
      }
    } else if (opts.detector === "combined") {
      detector = await fitCombinedCommand(opts, data, calibration, runtime, fpr);
    } else {
      const model = loadModel(opts.model);
      const layers = mahalanobisLayers(opts.layer, model);
      if (!["fgsm", "noise"].includes(opts.ensembleAgainst))
        throw new AegisError("BAD_OPTION", `--ensemble-against must be fgsm or noise, not "${opts.ensembleAgainst}"`);
      const extractors = [];
      try {
        for (const layer of layers) extractors.push(await createFeatureExtractor(model, { ...runtime, layer }));
        let labels: number[];
        if (data.y) labels = labelsOf(data.y);
        else {
          info(`${data.name} has no labels: the Gaussians are fitted on the model's own predictions`);
          const { scores } = await extractors[0].extract(data.x);
          labels = Array.from({ length: data.x.shape[0] }, (_, i) => argmaxRow(scores, i));
        }
        const options = { fpr, noiseMagnitude: opts.noise, calibration: calibration?.x };
        if (extractors.length === 1) detector = await fitMahalanobis(extractors[0], data.x, labels, options);
        else {
          const classifier = await OnnxClassifier.fromFile(opts.model, runtime);
          try {
            detector = await fitMahalanobisEnsemble(extractors, classifier, data.x, labels, {
              ...options,
              against: opts.ensembleAgainst,
              perturbation: opts.ensembleEps,
              validationSamples: opts.ensembleSamples,
            });
          } finally {
            await classifier.release();
          }
        }
      } finally {
        for (const extractor of extractors) await extractor.release();
      }
    }
    let fittedOn = calibration ? `${data.name} (threshold: ${calibration.name})` : data.name;
    if (detector.name === "strip" && !calibration)
      fittedOn = `${data.name} (overlays: ${detector.overlays.shape[0]} of them, threshold: the other ${data.x.shape[0] - detector.overlays.shape[0]})`;
    if (detector.name === "knn-ood" && !calibration)
      fittedOn = `${data.name} (bank: ${detector.bank.size} of them, threshold: the other ${data.x.shape[0] - detector.bank.size})`;
    if (detector.name === "mahalanobis" && isMahalanobisEnsemble(detector))
      fittedOn += ` (regression: ${detector.members.length} layers, a held-out slice against ${detector.fittedAgainst})`;
    const fitted = { data: fittedOn, samples: data.x.shape[0] };
    saveDetector(opts.out, detector, opts.model, fitted);
    info(`wrote ${opts.out}: ${detector.name}, threshold ${detector.threshold.toPrecision(6)} at ${(fpr * 100).toFixed(1)}% false positives`);
    if (opts.json) printJson({ detector: detector.name, threshold: detector.threshold, fpr, out: opts.out, fitted });
  });
}

/**
 * Feature squeezing (--squeezers) and one Mahalanobis detector per layer (--layer: a name, a
 * list or all-relu; default the first Relu, the layer that separates best on MNIST), combined
 * by their p-values on clean data (defenses/detectors/combined.ts).
 */
async function fitCombinedCommand(
  opts: { model: string; layer?: string; squeezers: string; channelsLast?: boolean },
  data: Dataset,
  calibration: Dataset | undefined,
  runtime: RuntimeOptions & { batchSize: number },
  fpr: number,
): Promise<FittedDetector> {
  const model = loadModel(opts.model);
  const firstRelu = model.graph.nodes.find((n) => n.opType === "Relu")?.outputs[0];
  const layers = opts.layer ? mahalanobisLayers(opts.layer, model) : [firstRelu];
  if (layers.some((l) => l === undefined))
    throw new AegisError("BAD_OPTION", "the model has no Relu layer; name the Mahalanobis layer(s) with --layer (aegis inspect lists them)");
  if (!data.y) throw new AegisError("BAD_DATA", `${data.name} has no labels; the Mahalanobis members of a combined detector need labelled --data`);
  const classifier = await OnnxClassifier.fromFile(opts.model, runtime);
  const members: Detector[] = [
    featureSqueezingDetector(classifier, { squeezers: parseSqueezers(opts.squeezers), channelsFirst: !opts.channelsLast, threshold: Number.POSITIVE_INFINITY }),
  ];
  const extractors: FeatureExtractor[] = [];
  try {
    for (const layer of layers) {
      const extractor = await createFeatureExtractor(model, { ...runtime, layer });
      extractors.push(extractor);
      members.push(await fitMahalanobis(extractor, data.x, labelsOf(data.y)));
    }
    return await fitCombined(members, (calibration ?? data).x, { fpr });
  } finally {
    for (const extractor of extractors) await extractor.release();
    await classifier.release();
  }
}

export interface DetectionSetReport {
  name: string;
  samples: number;
  flagged: number;
  /** Adversarial sets: the area under the ROC curve against the clean set. */
  auroc?: number;
  /** Adversarial sets with labels: samples the model misclassifies, and the share of them flagged. */
  misclassified?: number;
  tpr_misclassified?: number;
}

export interface DetectionReport {
  detector: string;
  threshold: number;
  fpr: number | null;
  clean: DetectionSetReport;
  adversarial: DetectionSetReport[];
}

/** Flagged fraction on clean data (the false-positive rate) and on each adversarial set (the true-positive rate), with AUROC. */
export async function detectionReport(
  detector: FittedDetector,
  clean: Dataset,
  adversarial: Dataset[],
  predict: (x: Tensor<"float32">) => Promise<Tensor<"float32">>,
): Promise<DetectionReport> {
  const cleanScores = await detector.score(clean.x);
  const sets: DetectionSetReport[] = [];
  for (const set of adversarial) {
    const scores = await detector.score(set.x);
    const entry: DetectionSetReport = {
      name: set.name,
      samples: scores.length,
      flagged: flaggedFraction(scores, detector.threshold),
      auroc: auroc(cleanScores, scores),
    };
    if (set.y) {
      const labels = labelsOf(set.y);
      const out = await predict(set.x);
      const wrong = labels.flatMap((y, i) => (argmaxRow(out, i) !== y ? [i] : []));
      entry.misclassified = wrong.length;
      entry.tpr_misclassified = wrong.length
        ? flaggedFraction(
            Float32Array.from(wrong, (i) => scores[i]),
            detector.threshold,
          )
        : 0;
    }
    sets.push(entry);
  }
  return {
    detector: detector.name,
    threshold: detector.threshold,
    fpr: Number.isFinite(detector.fpr) ? detector.fpr : null,
    clean: { name: clean.name, samples: cleanScores.length, flagged: flaggedFraction(cleanScores, detector.threshold) },
    adversarial: sets,
  };
}

function scoreCommand(): Command {
  const cmd = new Command("score")
    .description("score clean and adversarial inputs: false-positive rate, true-positive rate at the fitted threshold, AUROC")
    .requiredOption("--detector <file>", "detector written by aegis detect fit")
    .requiredOption("--model <file>", "the ONNX model the detector was fitted on")
    .option("--adversarial <spec...>", "adversarial or out-of-distribution sets (.npz from aegis attack --out: x, y)");
  withData(cmd, "clean data", "mnist");
  withSamples(cmd, "score the first n samples of each set");
  withBatchSize(cmd, 256);
  withJson(cmd, "the report");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    const runtime = { ...runtimeOptions(opts), batchSize: opts.batchSize };
    const loaded = await loadDetector(opts.detector, opts.model, runtime);
    const model = await OnnxClassifier.fromFile(opts.model, runtime);
    const keys = { xKey: opts.xKey, yKey: opts.yKey, split: opts.split };
    const clean = firstRows(loadData(opts.data, keys), opts.samples);
    const adversarial = ((opts.adversarial ?? []) as string[]).map((spec) => firstRows(loadData(spec, keys), opts.samples));
    let report: DetectionReport;
    try {
      report = await detectionReport(loaded.detector, clean, adversarial, (x) => model.predict(x));
    } finally {
      await loaded.release();
      await model.release();
    }
    if (opts.json) return printJson(report);
    const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
    const lines = [
      `${report.detector}: threshold ${report.threshold.toPrecision(6)}${report.fpr === null ? "" : ` (fitted at ${pct(report.fpr)} false positives)`}`,
      `${report.clean.name}: ${report.clean.samples} samples, flagged ${pct(report.clean.flagged)} (false-positive rate)`,
      ...report.adversarial.map(
        (s) =>
          `${s.name}: ${s.samples} samples, flagged ${pct(s.flagged)} (true-positive rate)${s.misclassified === undefined ? "" : `, ${pct(s.tpr_misclassified ?? 0)} of the ${s.misclassified} misclassified`}, AUROC ${(s.auroc ?? Number.NaN).toFixed(4)}`,
      ),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  });
}
