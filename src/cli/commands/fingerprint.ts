/**
 * `aegis fingerprint make|verify`: fingerprint a deployed model without retraining it
 * (IPGuard's boundary points, chosen as conferrable adversarial examples), and tell whether
 * a suspect model — a file or an endpoint — was derived from it.
 */
import { Command } from "commander";
import type { Dataset } from "../../data/index.js";
import { requireLabels } from "../../data/labels.js";
import {
  FINGERPRINT_DEFAULTS,
  type Fingerprint,
  type FingerprintParams,
  fingerprintFindings,
  type LabelledData,
  loadFingerprint,
  makeFingerprint,
  renderFingerprintHtml,
  renderFingerprintMarkdown,
  saveFingerprint,
  verifyFingerprint,
} from "../../defenses/index.js";
import { OnnxClassifier, type Predictor } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/io.js";
import { renderSarif } from "../../report/sarif.js";
import { parseFormats, writeReports } from "../../report/write.js";
import { sliceRows } from "../../tensor.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import { paramPairs, paramValue, parseInteger, runtimeOptions, withData, withJson, withRuntime, withSamples, withSeed } from "../options.js";
import { addTargetOptions, targetPredictor } from "../target.js";

const PARAM_HELP: Record<keyof FingerprintParams, string> = {
  method:
    "ipguard: walk on the victim alone; conferrable: on the victim and the walk surrogates and references (Lukas et al.); errors: the model's own mistakes on --data, which copies repeat (Guan et al., SAC-w)",
  count: "points kept in the fingerprint (also --count); with method errors, the most of the model's mistakes kept",
  correct: "method errors: samples the model labels right, kept to measure a suspect's own error rate",
  candidates: "seeds walked across the boundary (at most a third of --data), the best `count` kept",
  margin: "probability margin over the runner-up at which a walk stops, for the model and each walk surrogate (IPGuard's k)",
  epsilon: "L∞ bound of a point's distance from its seed",
  stepSize: "L∞ size of one step of the walk",
  maxIter: "most steps of a walk",
  surrogates: "copies distilled from the model in each of three ensembles (walk, selection, calibration), each on its own third of --data",
  references: "models trained on the true labels in each of the walk and selection ensembles",
  calibrationReferences:
    "models trained on the true labels in the calibration ensemble; the spread of their matching rates sets the threshold (at least 3; method errors: at least 4, on 1, 1/2, 1/4 and 1/8 of the references' data in turn)",
  architecture: "architecture of surrogates and references: mlp, cnn, resnet-small, or like (the victim's own)",
  epochs: "training epochs of each surrogate and reference",
  batchSize: "samples per training step",
  learningRate: "Adam's learning rate",
  alpha: "chance that an independent model reaches the threshold, under the null fitted on the calibration references",
  seed: "seed of the data split, the walks and the ensemble's weights (also --seed)",
};

export function fingerprintCommand(): Command {
  const cmd = new Command("fingerprint").description(
    "fingerprint a model without retraining it (IPGuard / conferrable adversarial examples), and tell whether a suspect model is a copy of it",
  );
  const make = new Command("make")
    .description("fingerprint a model: boundary points that copies of it label as it does and independent models do not")
    .requiredOption("--model <file>", "the model to fingerprint (ONNX, differentiable)")
    .requiredOption("--out <file>", "write the fingerprint (JSON) here")
    .option("--count <n>", "points in the fingerprint", parseInteger("--count", 1), FINGERPRINT_DEFAULTS.count)
    .option(
      "--param <key=value...>",
      `any parameter of the method:\n${Object.entries(PARAM_HELP)
        .map(([k, h]) => `  ${k} (default ${String(FINGERPRINT_DEFAULTS[k as keyof FingerprintParams])}): ${h}`)
        .join("\n")}`,
    );
  withData(
    make,
    "labelled data the model was not trained on (seeds of the walks, training data of the surrogates and references; mnist: its 2,000-sample test split)",
    "mnist",
  );
  make
    .option(
      "--reference-data <name|file>",
      "labelled data of the model's own distribution that is not --data, for the references (its train split; e.g. mnist-full); without it they learn from --data",
    )
    .option("--reference-rows <from:to>", "use these rows of --reference-data (e.g. 10000:16000)");
  withSamples(make, "use the first n samples");
  withSeed(make, "the split, the walks and the ensemble");
  withRuntime(make);
  make.action(async (opts) => {
    const params = fingerprintParams(opts);
    const data = loadData(opts.data, opts);
    const n = Math.min(opts.samples ?? data.x.shape[0], data.x.shape[0]);
    const labels = requireLabels(data, "training the reference models that calibrate the fingerprint").slice(0, n);
    const referenceData = opts.referenceData ? referenceRows(loadData(opts.referenceData, { split: "train" }), opts.referenceRows) : undefined;
    const victim = await OnnxClassifier.fromFile(opts.model, runtimeOptions(opts));
    const bar = progressBar("fingerprint", 1);
    let fingerprint: Fingerprint;
    try {
      fingerprint = await makeFingerprint(victim, { x: sliceRows(data.x, 0, n), labels }, params, {
        victimModel: params.architecture === "like" ? loadModel(opts.model) : undefined,
        victimName: opts.model,
        referenceData,
        runtime: runtimeOptions(opts),
        signal: interruptSignal(),
        onStatus: (message) => bar.update(0, message),
      });
    } finally {
      bar.stop();
      await victim.release();
    }
    saveFingerprint(opts.out, fingerprint);
    const pct = (rates: number[]) => rates.map((r) => `${(r * 100).toFixed(0)}%`).join(", ");
    info(`wrote ${opts.out}`);
    const mistakes = fingerprint.mistakes;
    process.stdout.write(
      mistakes
        ? `${mistakes.mistakes} of the model's mistakes and ${fingerprint.labels.length - mistakes.mistakes} points it labels right; held-out references repeat ${pct(fingerprint.calibration.references)} of the mistakes; a suspect of their mean error rate verifies at ≥ ${fingerprint.threshold} repeated (p ≤ ${fingerprint.alpha})\n`
        : `${fingerprint.labels.length} points (${fingerprint.candidates.crossed} of ${fingerprint.candidates.walked} walks crossed); held-out surrogates match ${pct(fingerprint.calibration.surrogates)}, held-out references ${pct(fingerprint.calibration.references)}; a suspect verifies at ≥ ${fingerprint.threshold} matches (p ≤ ${fingerprint.alpha})\n`,
    );
  });

  const verify = new Command("verify")
    .description("match a suspect model against a fingerprint: matching rate, threshold, p-value and verdict")
    .option("--model <file>", "the suspect: a local ONNX model (queried through predict only)")
    .requiredOption("--fingerprint <file>", "the fingerprint from `aegis fingerprint make`")
    .option("--report <dir>", "write the report there, in --format formats")
    .option("--format <list>", "report formats: json, md, html, sarif", "html,md,json");
  withJson(verify, "the verdict", true);
  withRuntime(verify);
  addTargetOptions(verify);
  verify.action(async (opts) => {
    if (Boolean(opts.model) === Boolean(opts.target)) throw new AegisError("BAD_OPTION", "give the suspect as one of --model FILE or --target URL");
    const fingerprint = loadFingerprint(opts.fingerprint);
    const suspect: Predictor & { release?(): Promise<void> } = opts.model
      ? await OnnxClassifier.fromFile(opts.model, runtimeOptions(opts))
      : targetPredictor(opts, fingerprint.inputShape, 256);
    const name: string = opts.model ?? opts.target;
    const verdict = await verifyFingerprint(suspect, fingerprint);
    await suspect.release?.();
    const findings = fingerprintFindings(verdict, fingerprint, name);
    const report = { suspect: name, fingerprint: opts.fingerprint, victim: fingerprint.victim, ...verdict, findings };
    if (opts.report) {
      const written = writeReports(
        opts.report,
        parseFormats(opts.format, ["json", "md", "html", "sarif"]),
        {
          json: () => `${JSON.stringify(report, null, 2)}\n`,
          md: () => renderFingerprintMarkdown(verdict, fingerprint, name, findings),
          html: () => renderFingerprintHtml(verdict, fingerprint, name, findings),
          sarif: () => renderSarif(findings, { name: "aegis-fingerprint", fullName: "Aegis model fingerprinting", version: AEGIS_VERSION }),
        },
        { base: "fingerprint" },
      );
      info(`wrote ${Object.values(written).join(", ")}`);
    }
    if (typeof opts.json === "string") writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    else if (opts.json) printJson(report);
    else
      process.stdout.write(
        `${name}: ${verdict.matches}/${verdict.points} ${verdict.errorRate === undefined ? "points match" : "of the model's mistakes repeated"} (${(verdict.matchingRate * 100).toFixed(1)}%${verdict.errorRate === undefined ? "" : `, own error rate ${(verdict.errorRate * 100).toFixed(1)}%`}), threshold ${verdict.threshold}, p = ${verdict.pValue.toPrecision(2)} → ${verdict.stolen ? "COPY of" : "no match with"} ${fingerprint.victim}\n`,
      );
  });
  return cmd.addCommand(make).addCommand(verify);
}

/** The defaults, then --count and --seed, then --param key=value, each checked against its default's type. */
function fingerprintParams(opts: { count: number; seed: number; param?: string[] }): FingerprintParams {
  const params: Record<string, unknown> = { ...FINGERPRINT_DEFAULTS, count: opts.count, seed: opts.seed };
  for (const [key, raw] of paramPairs(opts.param, "aegis fingerprint make --help")) {
    if (!(key in params)) throw new AegisError("BAD_OPTION", `--param ${key}: no such parameter (aegis fingerprint make --help lists them)`);
    const value = paramValue(raw);
    if (typeof params[key] === "number" && typeof value !== "number") throw new AegisError("BAD_OPTION", `--param ${key} must be a number, not "${raw}"`);
    params[key] = typeof params[key] === "number" ? value : raw;
  }
  if (params.method !== "ipguard" && params.method !== "conferrable" && params.method !== "errors")
    throw new AegisError("BAD_OPTION", `--param method must be ipguard, conferrable or errors, not "${params.method}"`);
  return params as unknown as FingerprintParams;
}

/** The labelled rows `from:to` (all when not given) of the references' data. */
function referenceRows(data: Dataset, rows: string | undefined): LabelledData {
  const n = data.x.shape[0];
  const [from, to] = rows === undefined ? [0, n] : rows.split(":").map(Number);
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from < to && to <= n))
    throw new AegisError("BAD_OPTION", `--reference-rows must be FROM:TO with 0 ≤ FROM < TO ≤ ${n}, not "${rows}"`);
  const labels = requireLabels(data, "training the reference models on --reference-data").slice(from, to);
  return { x: sliceRows(data.x, from, to), labels };
}
