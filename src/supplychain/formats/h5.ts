/**
 * Legacy Keras `.h5` (HDF5): Keras 2 stores the model's JSON config in the root
 * attribute `model_config` (and the optimizer's in `training_config`), so the same
 * config checks as `.keras` apply. HDF5 is too intricate to parse by hand safely, so
 * h5wasm reads it, in a worker thread with a time limit; its Node build sees only the
 * host file system, hence the temp copy.
 */
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { Finding, Severity } from "../../report/finding.js";
import { malformedHeader } from "../findings.js";
import { scanFinding } from "../rules.js";
import type { ByteSource, FormatScanner, ScanContext } from "../types.js";
import { walkKerasConfig } from "./keras.js";

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
/** HDF5 allows a user block before the superblock; the signature then sits at one of these. */
const SIGNATURE_OFFSETS = [0, 512, 1024, 2048];
const CONFIG_ATTRIBUTES = ["model_config", "training_config"];
const COPY_CHUNK = 16 << 20;

export const h5Scanner: FormatScanner = {
  format: "hdf5",
  detect(head) {
    return SIGNATURE_OFFSETS.some((at) => at + SIGNATURE.length <= head.length && SIGNATURE.every((b, i) => head[at + i] === b));
  },
  async scan(source: ByteSource, context: ScanContext): Promise<Finding[]> {
    const findings: Finding[] = [];
    const add = (severity: Severity, rule: string, message: string, detail?: string) =>
      findings.push(scanFinding(severity, rule, message, { ...context.location, symbol: detail }));
    if (source.size > context.limits.maxExtractedBytes) {
      add("info", "H5-TOO-LARGE", `the HDF5 file is larger than the ${context.limits.maxExtractedBytes}-byte limit; it is too large to inspect`);
      return findings;
    }
    let texts: Map<string, string>;
    try {
      texts = await readConfigAttributes(source, context.limits.readerTimeoutMs);
    } catch (e) {
      return [malformedHeader(context.location, "hdf5", `The file has an HDF5 signature but could not be read (${(e as Error).message})`)];
    }
    for (const [attribute, text] of texts) {
      let config: unknown;
      try {
        config = JSON.parse(text);
      } catch (e) {
        add("medium", "KERAS-BAD-CONFIG", `${attribute} is not JSON (${(e as Error).message})`, attribute);
        continue;
      }
      walkKerasConfig(config, "$", (severity, rule, message, detail) => add(severity, rule, message, detail ? `${attribute}: ${detail}` : attribute));
    }
    return findings;
  },
};

/**
 * The Keras config attributes present at the root, as text. h5wasm runs in a worker thread:
 * HDF5 can loop forever on a crafted file (the fuzzer found such files), and synchronous
 * WebAssembly cannot be interrupted, only its thread terminated.
 */
async function readConfigAttributes(source: ByteSource, timeoutMs: number): Promise<Map<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), "aegis-h5-"));
  try {
    const path = join(dir, "model.h5");
    const out = await open(path, "w");
    try {
      // Copied in chunks so a large weights file never sits whole in memory.
      for (let at = 0; at < source.size; at += COPY_CHUNK) await out.write(await source.read(at, COPY_CHUNK));
    } finally {
      await out.close();
    }
    const worker = new Worker(READER, { eval: true, workerData: { h5wasm: import.meta.resolve("h5wasm/node"), path, names: CONFIG_ATTRIBUTES }, stderr: true });
    // HDF5 prints its C error stack (paths of the library's build) and Emscripten its abort
    // notice to stderr; for a corrupt file the finding says it all.
    worker.stderr.resume();
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await new Promise<{ texts?: [string, string][]; error?: string }>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`the HDF5 reader did not finish within ${timeoutMs / 1000} s`)), timeoutMs);
        worker.once("message", resolve);
        worker.once("error", () => reject(new Error("the HDF5 reader stopped")));
        worker.once("exit", () => reject(new Error("the HDF5 reader stopped")));
      });
      if (answer.error !== undefined) throw new Error(answer.error);
      return new Map(answer.texts);
    } finally {
      clearTimeout(timer);
      await worker.terminate();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The worker's code: plain JavaScript, so it runs without the TypeScript loader. */
const READER = `
const { parentPort, workerData } = require("node:worker_threads");
// HDF5 writes its error stack to file descriptor 2 directly.
const fs = require("node:fs");
const writeSync = fs.writeSync;
fs.writeSync = (fd, data, ...rest) => (fd === 2 ? (typeof rest[1] === "number" ? rest[1] : data.length) : writeSync(fd, data, ...rest));
import(workerData.h5wasm).then(async ({ default: h5wasm }) => {
  await h5wasm.ready;
  let file;
  try {
    file = new h5wasm.File(workerData.path, "r");
    const present = Object.keys(file.attrs);
    const texts = [];
    for (const name of workerData.names) {
      if (!present.includes(name)) continue;
      const value = file.get_attribute(name, true);
      // h5py writes the JSON as a scalar string; an array of one string is also accepted.
      const text = typeof value === "string" ? value : Array.isArray(value) && typeof value[0] === "string" ? value[0] : undefined;
      if (text === undefined) throw new Error(name + " is not a string");
      texts.push([name, text]);
    }
    parentPort.postMessage({ texts });
  } catch (e) {
    parentPort.postMessage({ error: e instanceof Error ? e.message : String(e) });
  } finally {
    try { file?.close(); } catch {}
  }
});
`;
