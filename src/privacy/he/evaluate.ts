/**
 * Encrypted against plaintext, end to end in one process: keys, encryption, the server's
 * inference and decryption on the same samples as the float64 reference, with agreement,
 * accuracy, the largest logit error, latency and the size of everything that crosses the
 * wire. The client and server objects stay separate, as across machines: the server is
 * given the public-keys bytes only.
 */
import { AegisError } from "../../errors.js";
import { type Progress, silentProgress } from "../../progress.js";
import { generateKeys, HeClient } from "./client.js";
import { argmaxAgreement, predictedClass } from "./compile.js";
import { HeEvaluator } from "./evaluator.js";
import { evaluatePlain } from "./model.js";
import type { HeModel } from "./model-file.js";

export interface EncryptedEvaluation {
  samples: number;
  packing: HeModel["params"]["packing"];
  /** Share of samples whose encrypted prediction equals the plaintext one. */
  agreement: number;
  /** Accuracy against the labels, encrypted and plaintext (when labels are given). */
  encryptedAccuracy?: number;
  plainAccuracy?: number;
  /** Largest |decrypted − plaintext| over all outputs, and the largest |plaintext output| for scale. */
  maxError: number;
  maxOutput: number;
  /** Seconds: key generation, then per request (encrypt, server, decrypt), summed over requests. */
  keygenSeconds: number;
  encryptSeconds: number;
  inferSeconds: number;
  decryptSeconds: number;
  /** Server CPU seconds (user + system) of inference: unlike wall time, not inflated by other load. */
  inferCpuSeconds: number;
  requests: number;
  publicKeyBytes: number;
  requestBytes: number;
  responseBytes: number;
}

export interface EvaluateOptions {
  /** Samples per request: 1 for the single packing by default; the slot count for the batch packing. */
  samplesPerRequest?: number;
  labels?: ArrayLike<number>;
  progress?: Progress;
  signal?: AbortSignal;
}

export async function evaluateEncrypted(
  model: HeModel,
  x: Float32Array | Float64Array,
  n: number,
  options: EvaluateOptions = {},
): Promise<EncryptedEvaluation> {
  const { params } = model;
  const features = params.inputShape.reduce((a, b) => a * b, 1);
  if (n < 1 || x.length < n * features) throw new AegisError("SHAPE_MISMATCH", `need ${n} samples of ${features} values`);
  const k = params.classes;
  let started = performance.now();
  const keys = await generateKeys(params);
  const keygenSeconds = (performance.now() - started) / 1000;
  const server = await HeEvaluator.create(model);
  const serverKeys = server.loadKeys(keys.publicKeys);
  const client = await HeClient.open(keys.secretKey);
  const perRequest = options.samplesPerRequest ?? (params.packing === "single" ? 1 : client.slots);
  const outputs = new Float64Array(n * k);
  const bar = (options.progress ?? silentProgress)("encrypted inference", n);
  const totals = { encrypt: 0, infer: 0, decrypt: 0, cpu: 0, request: 0, response: 0, requests: 0 };
  try {
    for (let start = 0; start < n; start += perRequest) {
      if (options.signal?.aborted) throw new AegisError("INTERRUPTED", "interrupted; nothing was written");
      const count = Math.min(perRequest, n - start);
      started = performance.now();
      const request = client.encrypt(x.subarray(start * features, (start + count) * features), count);
      totals.encrypt += performance.now() - started;
      started = performance.now();
      const cpu = process.cpuUsage();
      const response = server.infer(request, serverKeys);
      const used = process.cpuUsage(cpu);
      totals.infer += performance.now() - started;
      totals.cpu += (used.user + used.system) / 1000;
      started = performance.now();
      outputs.set(client.decrypt(response).outputs, start * k);
      totals.decrypt += performance.now() - started;
      totals.request += request.length;
      totals.response += response.length;
      totals.requests++;
      bar.update(start + count);
    }
  } finally {
    bar.stop();
    serverKeys.release();
    client.release();
  }
  const plain = evaluatePlain(model.stages, Float64Array.from(x.subarray(0, n * features)), n);
  let maxError = 0;
  let maxOutput = 0;
  for (let i = 0; i < plain.length; i++) {
    maxError = Math.max(maxError, Math.abs(plain[i] - outputs[i]));
    maxOutput = Math.max(maxOutput, Math.abs(plain[i]));
  }
  const accuracy = (v: Float64Array) => {
    const labels = options.labels as ArrayLike<number>;
    let correct = 0;
    for (let s = 0; s < n; s++) if (predictedClass(v, s * k, k) === labels[s]) correct++;
    return correct / n;
  };
  return {
    samples: n,
    packing: params.packing,
    agreement: argmaxAgreement(plain, outputs, n, k),
    encryptedAccuracy: options.labels ? accuracy(outputs) : undefined,
    plainAccuracy: options.labels ? accuracy(plain) : undefined,
    maxError,
    maxOutput,
    keygenSeconds,
    encryptSeconds: totals.encrypt / 1000,
    inferSeconds: totals.infer / 1000,
    decryptSeconds: totals.decrypt / 1000,
    inferCpuSeconds: totals.cpu / 1000,
    requests: totals.requests,
    publicKeyBytes: keys.publicKeys.length,
    requestBytes: totals.request,
    responseBytes: totals.response,
  };
}
