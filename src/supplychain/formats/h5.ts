/**
 * Legacy Keras `.h5` (HDF5): Keras 2 stores the model's JSON config in the root
 * attribute `model_config` (and the optimizer's in `training_config`), so the same
 * config checks as `.keras` apply. HDF5 is too intricate to parse by hand safely, so
 * h5wasm reads it; its Node build sees only the host file system, hence the temp copy.
 */
import fs from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
import { malformedHeader } from "../findings.js";
import type { ByteSource, FormatScanner, ScanContext, ScanFinding, Severity } from "../types.js";
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
  async scan(source: ByteSource, context: ScanContext): Promise<ScanFinding[]> {
    const findings: ScanFinding[] = [];
    const add = (severity: Severity, rule: string, message: string, detail?: string) =>
      findings.push({ severity, rule, message, location: { ...context.location, detail } });
    if (source.size > context.limits.maxExtractedBytes) {
      add("INFO", "H5-TOO-LARGE", `the HDF5 file is larger than the ${context.limits.maxExtractedBytes}-byte limit; it is too large to inspect`);
      return findings;
    }
    let texts: Map<string, string>;
    try {
      texts = await readConfigAttributes(source);
    } catch (e) {
      return [malformedHeader(context.location, "hdf5", `The file has an HDF5 signature but could not be read (${(e as Error).message})`)];
    }
    for (const [attribute, text] of texts) {
      let config: unknown;
      try {
        config = JSON.parse(text);
      } catch (e) {
        add("MEDIUM", "KERAS-BAD-CONFIG", `${attribute} is not JSON (${(e as Error).message})`, attribute);
        continue;
      }
      walkKerasConfig(config, "$", (severity, rule, message, detail) => add(severity, rule, message, detail ? `${attribute}: ${detail}` : attribute));
    }
    return findings;
  },
};

/** The Keras config attributes present at the root, as text. */
async function readConfigAttributes(source: ByteSource): Promise<Map<string, string>> {
  await h5wasm.ready;
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
    return withoutLibraryDiagnostics(() => {
      const file = new h5wasm.File(path, "r");
      try {
        const texts = new Map<string, string>();
        const present = Object.keys(file.attrs);
        for (const name of CONFIG_ATTRIBUTES) {
          if (!present.includes(name)) continue;
          const value = file.get_attribute(name, true);
          // h5py writes the JSON as a scalar string; an array of one string is also accepted.
          const text = typeof value === "string" ? value : Array.isArray(value) && typeof value[0] === "string" ? value[0] : undefined;
          if (text === undefined) throw new Error(`${name} is not a string`);
          texts.set(name, text);
        }
        return texts;
      } finally {
        file.close();
      }
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * HDF5 prints its error stack (C source paths of the library's build) straight to file
 * descriptor 2 through fs.writeSync, and Emscripten its abort notice through console.error;
 * for a corrupt file the finding says it all. The calls are synchronous, so nothing else
 * writes meanwhile.
 */
function withoutLibraryDiagnostics<T>(run: () => T): T {
  const { write } = process.stderr;
  process.stderr.write = () => true;
  const writeSync = fs.writeSync;
  fs.writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) =>
    fd === 2
      ? typeof rest[1] === "number"
        ? rest[1]
        : typeof data === "string"
          ? Buffer.byteLength(data)
          : data.byteLength
      : (writeSync as (...args: unknown[]) => number)(fd, data, ...rest)) as typeof fs.writeSync;
  try {
    return run();
  } finally {
    fs.writeSync = writeSync;
    process.stderr.write = write;
  }
}
