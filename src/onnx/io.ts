import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { readPlaintext } from "../encryption/index.js";
import { AegisError } from "../errors.js";
import { writeFileAtomic } from "../fs.js";
import type { Model } from "./ir.js";
import { decodeModel, encodeModel } from "./proto.js";

/**
 * Reads an .onnx file, with external data resolved relative to its folder. A file `aegis
 * encrypt` wrote is decrypted in memory with `keyFile`, else AEGIS_KEY or AEGIS_KEY_FILE.
 */
export function loadModel(path: string, keyFile?: string): Model {
  let bytes: Buffer;
  try {
    if (statSync(path).isDirectory()) throw new AegisError("BAD_MODEL", `${path} is a folder; give the path of an .onnx file`);
    bytes = readPlaintext(path, keyFile);
  } catch (e) {
    if (e instanceof AegisError) throw e;
    throw new AegisError("FILE_NOT_FOUND", `model file ${path} was not found; check the path`);
  }
  if (bytes.byteLength === 0) throw new AegisError("BAD_MODEL", `${path} is empty; it is not an ONNX model`);
  try {
    return decodeModel(bytes, { baseDir: dirname(resolve(path)) });
  } catch (e) {
    if (e instanceof AegisError && e.code === "BAD_MODEL") throw new AegisError("BAD_MODEL", `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Writes the model atomically (all tensors embedded). */
export function saveModel(path: string, model: Model): void {
  writeFileAtomic(path, encodeModel(model));
}
