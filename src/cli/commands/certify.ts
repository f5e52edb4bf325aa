import { Command } from "commander";
import { type Campaign, CERTIFY_SAMPLES_PER_JOB, campaignModel } from "../../campaigns/index.js";
import { requireLabels } from "../../data/labels.js";
import { abstainRate, type Certificate, certifiedAccuracy, certify, maximumRadius, SMOOTHING_DEFAULTS } from "../../defenses/index.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/io.js";
import { sliceRows } from "../../tensor.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import {
  aliased,
  parseInteger,
  parseNumber,
  runtimeOptions,
  withAlias,
  withBatchSize,
  withData,
  withJson,
  withOut,
  withRuntime,
  withSamples,
  withSeed,
} from "../options.js";
import { closeQueue, openQueue, withQueue } from "../queue.js";

export interface CertifyReport {
  model: string;
  data: string;
  sigma: number;
  n: number;
  n0: number;
  alpha: number;
  samples: number;
  /** Largest radius n samples can certify: σ·Φ⁻¹(α^{1/n}). */
  max_radius: number;
  clean_accuracy_smoothed: number;
  abstain_rate: number;
  certified_accuracy: { radius: number; accuracy: number }[];
  seconds: number;
  interrupted: boolean;
  certificates: { label: number; prediction: number | null; radius: number; p_a_lower: number }[];
}

export function certifyCommand(): Command {
  const cmd = new Command("certify")
    .description("certify L2 robustness by randomized smoothing (Cohen et al. 2019): certified accuracy at a list of radii")
    .requiredOption("--model <file>", "ONNX model (ideally trained with Gaussian augmentation at the same σ)")
    .requiredOption("--sigma <s>", "standard deviation of the smoothing noise", parseNumber("--sigma"))
    .option("--n <n>", "noisy samples per input for the bound", parseInteger("--n", 1), SMOOTHING_DEFAULTS.n)
    .option("--n0 <n>", "noisy samples per input to choose the class", parseInteger("--n0", 1), SMOOTHING_DEFAULTS.n0)
    .option("--alpha <a>", "failure probability of each certificate", parseNumber("--alpha"), SMOOTHING_DEFAULTS.alpha)
    .option("--radii <list>", "radii at which to report certified accuracy", "0,0.25,0.5,0.75,1.0");
  withData(cmd, "the samples to certify (with labels)", "mnist");
  withSamples(cmd, "certify the first n samples (Cohen et al.: 500; default 500)");
  withAlias(cmd, "--limit", "--samples", parseInteger("--limit", 1));
  withBatchSize(cmd, SMOOTHING_DEFAULTS.batchSize, "noisy samples per model call");
  withSeed(cmd, "the noise");
  withOut(cmd, "write a Markdown report there");
  withJson(cmd, "the report");
  withRuntime(cmd);
  withQueue(cmd, `the certification (one job per ${CERTIFY_SAMPLES_PER_JOB} samples)`);
  return cmd.action(async (opts) => {
    const radii = parseRadii(opts.radii);
    const data = loadData(opts.data, opts);
    const labels = requireLabels(data, "certified accuracy");
    const count = Math.min(aliased<number>(cmd, "samples", "limit") ?? 500, data.x.shape[0]);
    const model = await OnnxClassifier.fromFile(opts.model, { ...runtimeOptions(opts), batchSize: opts.batchSize });
    let campaign: Campaign | null = null;
    try {
      campaign = await openQueue(opts, () => ({ ...campaignModel(opts.model, loadModel(opts.model)), batchSize: opts.batchSize }));
    } catch (e) {
      await model.release();
      throw e;
    }
    const signal = interruptSignal();
    info(`certifying ${count} samples of ${data.name}: σ=${opts.sigma}, n0=${opts.n0}, n=${opts.n}, α=${opts.alpha}`);
    const bar = progressBar("certify", count);
    const started = performance.now();
    let results: Certificate[];
    try {
      const x = sliceRows(data.x, 0, count);
      const settings = { sigma: opts.sigma, n: opts.n, n0: opts.n0, alpha: opts.alpha, batchSize: opts.batchSize, seed: opts.seed };
      const onProgress = (done: number) => bar.update(done);
      results = campaign ? await campaign.certify(x, settings, { signal, onProgress }) : await certify(model, x, { ...settings, signal, onProgress });
    } finally {
      bar.stop();
      await model.release();
      await closeQueue(campaign);
    }
    const seconds = (performance.now() - started) / 1000;
    const accuracy = certifiedAccuracy(results, labels, radii);
    const report: CertifyReport = {
      model: opts.model,
      data: data.name,
      sigma: opts.sigma,
      n: opts.n,
      n0: opts.n0,
      alpha: opts.alpha,
      samples: results.length,
      max_radius: maximumRadius(opts.sigma, opts.n, opts.alpha),
      clean_accuracy_smoothed: certifiedAccuracy(results, labels, [0])[0],
      abstain_rate: abstainRate(results),
      certified_accuracy: radii.map((radius, i) => ({ radius, accuracy: accuracy[i] })),
      seconds,
      interrupted: signal.aborted,
      certificates: results.map((c, i) => ({ label: labels[i], prediction: c.prediction, radius: c.radius, p_a_lower: c.pALower })),
    };
    if (opts.out) {
      writeFileAtomic(opts.out, certifyMarkdown(report));
      info(`wrote ${opts.out}`);
    }
    if (opts.json) printJson(report);
    else process.stdout.write(certifyText(report));
    if (signal.aborted) throw new AegisError("INTERRUPTED", `interrupted after ${results.length} of ${count} samples; the report covers those`);
  });
}

function parseRadii(value: string): number[] {
  const radii = String(value)
    .split(",")
    .map((s) => Number(s.trim()));
  if (radii.length === 0 || radii.some((r) => !(r >= 0) || !Number.isFinite(r))) {
    throw new AegisError("BAD_OPTION", `--radii must be a comma-separated list of numbers ≥ 0, not "${value}"`);
  }
  return radii;
}

const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

function certifyText(r: CertifyReport): string {
  const lines = r.certified_accuracy.map((c) => `radius ${c.radius}: certified accuracy ${percent(c.accuracy)}`);
  lines.push(`abstained on ${percent(r.abstain_rate)} of ${r.samples} samples; largest certifiable radius ${r.max_radius.toFixed(3)} (σ=${r.sigma}, n=${r.n})`);
  return `${lines.join("\n")}\n`;
}

export function certifyMarkdown(r: CertifyReport): string {
  return [
    "# Randomized smoothing certification",
    "",
    `Model \`${r.model}\`, data ${r.data}, ${r.samples} samples${r.interrupted ? " (interrupted)" : ""}. Cohen, Rosenfeld & Kolter 2019: σ = ${r.sigma}, n0 = ${r.n0}, n = ${r.n}, α = ${r.alpha}. Each certificate holds with probability at least 1 − α.`,
    "",
    "| L2 radius | certified accuracy |",
    "| ---: | ---: |",
    ...r.certified_accuracy.map((c) => `| ${c.radius} | ${percent(c.accuracy)} |`),
    "",
    `Smoothed classifier accuracy (radius 0): ${percent(r.clean_accuracy_smoothed)}; abstained: ${percent(r.abstain_rate)}. With n = ${r.n} no radius above ${r.max_radius.toFixed(3)} can be certified. Time: ${r.seconds.toFixed(1)} s.`,
    "",
  ].join("\n");
}
