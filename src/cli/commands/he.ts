/**
 * `aegis he compile | keygen | encrypt | infer | decrypt`: encrypted inference with CKKS.
 * The model owner compiles; the client makes keys, encrypts and decrypts; the server infers
 * with the public keys only. Each step reads and writes files, so the three roles can sit
 * on three machines.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/index.js";
import {
  compileModel,
  generateKeys,
  HeClient,
  HeEvaluator,
  MAX_COEFF_BITS_128,
  outputProbabilities,
  predictedClass,
  readHeModel,
  readHeParams,
  writeHeModel,
  writeHeParams,
} from "../../privacy/index.js";
import { labelsOf } from "../../tensor.js";
import { info, loadData, printJson } from "../common.js";
import { parseInteger, withData, withJson, withOut, withSamples } from "../options.js";

export function heCommand(): Command {
  return new Command("he")
    .description("encrypted inference with CKKS homomorphic encryption (Microsoft SEAL): the server predicts on data it never sees")
    .addCommand(compileCommand())
    .addCommand(keygenCommand())
    .addCommand(encryptCommand())
    .addCommand(inferCommand())
    .addCommand(decryptCommand());
}

function compileCommand(): Command {
  const cmd = new Command("compile")
    .description("check an ONNX model's ops, fit polynomial activations on calibration data, choose packing and 128-bit-secure CKKS parameters")
    .requiredOption("--model <path>", "ONNX classifier to compile");
  withData(cmd, "calibration data: activation ranges and value sizes are measured on it", undefined, { split: "train" });
  withSamples(cmd, "calibration samples", 500);
  cmd
    .option("--packing <packing>", "single (one sample per ciphertext, low latency) | batch (one sample per slot, throughput) | auto", "auto")
    .option(
      "--activation-degree <d>",
      "degree of the polynomials fitted to ReLU/sigmoid/tanh (2-4; default 2 for ReLU, 3 otherwise)",
      parseInteger("--activation-degree", 2),
    )
    .option("--poly-degree <n>", "CKKS polynomial degree N (default: the smallest that holds the circuit)", parseInteger("--poly-degree", 1024))
    .option("--scale-bits <b>", "log2 of the CKKS scale (default: the largest the degree allows, at most 40)", parseInteger("--scale-bits", 20));
  withOut(cmd, "the server's model (M.he.json); the client's public parameters go next to it as M.he.params.json", undefined, true);
  withJson(cmd, "the compile report");
  return cmd.action((opts) => {
    if (!["single", "batch", "auto"].includes(opts.packing))
      throw new AegisError("BAD_OPTION", `--packing must be single, batch or auto, not "${opts.packing}"`);
    const model = loadModel(opts.model);
    const data = loadInputs(cmd, opts);
    const n = Math.min(opts.samples, data.x.shape[0]);
    const features = data.x.data.length / data.x.shape[0];
    const compiled = compileModel(model, {
      name: opts.model,
      calibration: data.x.data.subarray(0, n * features),
      calibrationSamples: n,
      packing: opts.packing,
      activationDegree: opts.activationDegree,
      polyModulusDegree: opts.polyDegree,
      scaleBits: opts.scaleBits,
    });
    const paramsPath = paramsPathOf(opts.out);
    writeHeModel(opts.out, compiled);
    writeHeParams(paramsPath, compiled.params);
    const { params, report } = compiled;
    const p = params.parameters;
    info(
      `ops: ${Object.entries(report.ops)
        .map(([op, count]) => `${op}×${count}`)
        .join(", ")} — all supported`,
    );
    for (const a of report.activations)
      info(
        `stage ${a.stage}: ${a.origin === "polynomial" ? "polynomial in the graph" : `${a.origin} fitted over [${a.range?.map((v) => v.toFixed(2)).join(", ")}]`}, degree ${a.degree}: ${a.coefficients.map((c) => c.toPrecision(4)).join(", ")}`,
      );
    info(`polynomial model agrees with the original on ${(report.polynomialAgreement * 100).toFixed(2)}% of ${n} calibration samples`);
    info(
      `CKKS N=${p.polyModulusDegree} (${report.slots} slots), primes [${p.coeffModulusBits.join(", ")}] bits (${p.coeffModulusBits.reduce((a, b) => a + b, 0)} of ${MAX_COEFF_BITS_128[p.polyModulusDegree]} allowed at 128-bit security), scale 2^${p.scaleBits}, depth ${params.depth}`,
    );
    info(
      `packing ${params.packing}: ${report.samplesPerRequest} sample${report.samplesPerRequest === 1 ? "" : "s"} per request, ${params.galoisSteps.length} rotation keys`,
    );
    info(`wrote ${opts.out} (the server's model) and ${paramsPath} (public parameters for the client)`);
    if (opts.json) printJson({ model: opts.out, params: paramsPath, parameters: p, packing: params.packing, depth: params.depth, report });
  });
}

function keygenCommand(): Command {
  const cmd = new Command("keygen")
    .description(
      "make a CKKS key set for a compiled model: KEY (secret, mode 0600, the client keeps it) and KEY.pub (public, relinearisation and Galois keys, for the server)",
    )
    .requiredOption("--params <path>", "public parameters (M.he.params.json, or M.he.json)");
  withOut(cmd, "secret key file to write; the server's keys go to <key>.pub", undefined, true);
  return cmd.action(async (opts) => {
    const keys = await generateKeys(readHeParams(opts.params));
    writeFileAtomic(opts.out, keys.secretKey, 0o600);
    writeFileAtomic(`${opts.out}.pub`, keys.publicKeys);
    info(`wrote ${opts.out} (secret: keep it on the client) and ${opts.out}.pub (${mb(keys.publicKeys.length)}: give it to the server)`);
  });
}

function encryptCommand(): Command {
  const cmd = new Command("encrypt")
    .description("encrypt inputs for the server with the client's secret key")
    .requiredOption("--key <path>", "secret key file from `aegis he keygen`");
  withData(cmd, "inputs to encrypt");
  withSamples(cmd, "encrypt the first n samples");
  withOut(cmd, "encrypted request to write", undefined, true);
  return cmd.action(async (opts) => {
    const client = await HeClient.open(readBytes(opts.key, "secret key"), opts.key);
    const data = loadInputs(cmd, opts);
    const n = Math.min(opts.samples ?? data.x.shape[0], data.x.shape[0]);
    const request = client.encrypt(data.x.data.subarray(0, (data.x.data.length / data.x.shape[0]) * n), n);
    client.release();
    writeFileAtomic(opts.out, request);
    info(`wrote ${opts.out}: ${n} encrypted samples, ${mb(request.length)}`);
  });
}

function inferCommand(): Command {
  const cmd = new Command("infer")
    .description("the server's step: run the compiled model on an encrypted request with the client's public keys; it never sees the inputs or outputs")
    .requiredOption("--model <path>", "compiled model (M.he.json)")
    .requiredOption("--keys <path>", "the client's public keys (KEY.pub)")
    .requiredOption("--in <path>", "encrypted request from `aegis he encrypt`");
  withOut(cmd, "encrypted response to write", undefined, true);
  return cmd.action(async (opts) => {
    const server = await HeEvaluator.create(readHeModel(opts.model));
    const keys = server.loadKeys(readBytes(opts.keys, "public keys"), opts.keys);
    const started = performance.now();
    const response = server.infer(readBytes(opts.in, "request"), keys);
    const seconds = (performance.now() - started) / 1000;
    keys.release();
    writeFileAtomic(opts.out, response);
    info(`wrote ${opts.out} (${mb(response.length)}) in ${seconds.toFixed(2)} s`);
  });
}

function decryptCommand(): Command {
  const cmd = new Command("decrypt")
    .description("decrypt a response with the client's secret key: predicted classes and probabilities; with --data, accuracy against its labels")
    .requiredOption("--key <path>", "secret key file from `aegis he keygen`")
    .requiredOption("--in <path>", "encrypted response from `aegis he infer`")
    .option("--data <spec>", "the inputs that were encrypted, to score the predictions against their labels")
    .option("--split <split>", "split of a built-in dataset (train|test)", "test")
    .option("--x-key <key>", "array of inputs in an .npz file", "x")
    .option("--y-key <key>", "array of labels in an .npz file", "y");
  withJson(cmd, "predictions (and accuracy)");
  return cmd.action(async (opts) => {
    const client = await HeClient.open(readBytes(opts.key, "secret key"), opts.key);
    const { outputs, samples } = client.decrypt(readBytes(opts.in, "response"));
    const k = client.params.classes;
    client.release();
    const predictions = Array.from({ length: samples }, (_, s) => predictedClass(outputs, s * k, k));
    const probabilities = outputProbabilities(outputs, k);
    let accuracy: number | undefined;
    if (opts.data) {
      const data = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: opts.split });
      if (!data.y) throw new AegisError("BAD_DATA", `${opts.data} has no labels to score against; drop --data or give labelled data`);
      const labels = labelsOf(data.y);
      if (labels.length < samples)
        throw new AegisError("SHAPE_MISMATCH", `${opts.data} has ${labels.length} labels for ${samples} predictions; give the data that was encrypted`);
      accuracy = predictions.filter((p, s) => p === labels[s]).length / samples;
    }
    if (opts.json) {
      printJson({ samples, predictions, outputs: Array.from(outputs), probabilities: Array.from(probabilities), accuracy });
      return;
    }
    for (let s = 0; s < samples; s++) {
      const p = predictions[s];
      const confidence = k === 1 ? (p === 1 ? probabilities[s] : 1 - probabilities[s]) : probabilities[s * k + p];
      process.stdout.write(`${s}\t${p}\t${confidence.toFixed(4)}\n`);
    }
    if (accuracy !== undefined) info(`accuracy ${(accuracy * 100).toFixed(2)}% on ${samples} samples`);
  });
}

/** Inputs without labels: an .npz needs its "y" array only when --y-key names it. */
function loadInputs(cmd: Command, opts: { data: string; xKey: string; yKey: string; split: string }) {
  return loadData(opts.data, { xKey: opts.xKey, yKey: cmd.getOptionValueSource("yKey") === "cli" ? opts.yKey : undefined, split: opts.split });
}

/** M.he.json → M.he.params.json (anything else gets .params.json appended). */
export function paramsPathOf(modelPath: string): string {
  return modelPath.endsWith(".json") ? `${modelPath.slice(0, -".json".length)}.params.json` : `${modelPath}.params.json`;
}

function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `the ${what} file ${path} does not exist or cannot be read; check the path`, { cause: e });
  }
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
