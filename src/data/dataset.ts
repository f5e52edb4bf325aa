/**
 * One entry point from a user's data spec to tensors every command can trust: x is float32
 * with the sample axis first and finite values, y (when present) is int64 class indices
 * with one label per sample. Formats are detected by content, not by file extension.
 */
import { statSync } from "node:fs";
import { plaintextName, readPlaintext } from "../encryption/index.js";
import { AegisError } from "../errors.js";
import { writeFileAtomic } from "../fs.js";
import { sizeOf, type Tensor, toFloat32 } from "../tensor.js";
import { parseCsv } from "./csv.js";
import { loadImageFolder } from "./images.js";
import { toLabelIndices } from "./labels.js";
import { loadMnist, MNIST_CLASS_NAMES } from "./mnist.js";
import { loadMnistFull } from "./mnist-full.js";
import { isNpy, looksLikePickle, parseNpy } from "./npy.js";
import { encodeNpz, isZip, parseNpz } from "./npz.js";

export interface Dataset {
  x: Tensor<"float32">;
  y?: Tensor<"int64">;
  name: string;
  classNames?: string[];
}

/** Options that do not apply to the detected format are ignored. */
export interface LoadDatasetOptions {
  /** .npz key of the inputs; default "x". */
  xKey?: string;
  /** .npz key of the labels; default "y", and then optional. */
  yKey?: string;
  /** Split of a built-in dataset; default "test". */
  split?: "train" | "test";
  /** CSV label column; default "label", and then optional. */
  labelColumn?: string;
  /** CSV field separator; default ",". */
  separator?: string;
}

/** The data sets Aegis ships, named without a path and read by split. */
export function isBuiltInDataset(spec: string): spec is "mnist" | "mnist-full" {
  return spec === "mnist" || spec === "mnist-full";
}

/**
 * Loads "mnist" or "mnist-full" (built in; a file or folder of that name needs a path such as ./mnist) or
 * a path to an .npz, .npy or CSV file or an image folder (root/<class>/<image>).
 */
export function loadDataset(spec: string, options: LoadDatasetOptions = {}): Dataset {
  if (isBuiltInDataset(spec)) {
    const split = options.split ?? "test";
    const { x, y } = spec === "mnist" ? loadMnist()[split] : loadMnistFull(split);
    return { x, y, name: `${spec}-${split}`, classNames: [...MNIST_CLASS_NAMES] };
  }
  const name = plaintextName(spec);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(spec).isDirectory();
  } catch (e) {
    throw new AegisError(
      "FILE_NOT_FOUND",
      `Cannot read ${spec} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give an .npz, .npy or CSV file, an image folder, or the built-in "mnist".`,
      { cause: e },
    );
  }
  if (isDirectory) {
    const { x, y, classNames } = loadImageFolder(spec);
    return { x, y, name, classNames };
  }

  // An encrypted file (`aegis encrypt`) is decrypted in memory, with the key from the environment.
  const bytes = readPlaintext(spec);
  if (isZip(bytes)) return fromNpz(parseNpz(bytes, name), name, options);
  if (isNpy(bytes) || looksLikePickle(bytes)) return { x: checkX(parseNpy(bytes, name), name), name };
  if (looksLikeText(bytes)) {
    const { x, y } = parseCsv(new TextDecoder().decode(bytes), options, name);
    return withLabels(checkX(x, name), y, name);
  }
  throw new AegisError(
    "BAD_DATA",
    `${spec} is in a format Aegis does not read; give an .npz or .npy file (numpy.savez, numpy.save), a CSV file with a header row, or a folder of class sub-folders of PNG/JPEG images.`,
  );
}

function fromNpz(arrays: Map<string, Tensor>, name: string, options: LoadDatasetOptions): Dataset {
  const keys = [...arrays.keys()];
  const missing = (key: string, flag: string) =>
    new AegisError(
      "BAD_DATA",
      `${name} has no array "${key}" (it holds ${keys.length ? keys.map((k) => `"${k}"`).join(", ") : "no arrays"}); choose the arrays with ${flag}.`,
    );
  const xKey = options.xKey ?? "x";
  const x = arrays.get(xKey);
  if (!x) throw missing(xKey, "--x-key (and --y-key for the labels)");
  const y = arrays.get(options.yKey ?? "y");
  if (!y && options.yKey !== undefined) throw missing(options.yKey, "--y-key");
  return withLabels(checkX(x, `${name}:${xKey}`), y && toLabelIndices(y, `${name}:${options.yKey ?? "y"}`), name);
}

function withLabels(x: Tensor<"float32">, y: Tensor<"int64"> | undefined, name: string): Dataset {
  if (y && y.shape[0] !== x.shape[0]) {
    throw new AegisError("SHAPE_MISMATCH", `${name} has ${x.shape[0]} samples in x but ${y.shape[0]} labels in y; give one label per sample.`);
  }
  return y ? { x, y, name } : { x, name };
}

/** float32, sample axis first, at least one sample, every value finite. */
function checkX(t: Tensor, name: string): Tensor<"float32"> {
  if (t.shape.length < 2) {
    throw new AegisError(
      "BAD_DATA",
      `${name} has shape [${t.shape.join(", ")}]; x needs the sample axis first and at least one more, e.g. [n, features] or [n, channels, height, width] (reshape 1-D data with x.reshape(-1, 1)).`,
    );
  }
  if (t.shape[0] === 0) throw new AegisError("BAD_DATA", `${name} holds no samples (its first dimension is 0).`);
  const x = toFloat32(t);
  const row = sizeOf(x.shape.slice(1));
  const bad = x.data.findIndex((v) => !Number.isFinite(v));
  if (bad !== -1) {
    throw new AegisError(
      "NON_FINITE",
      `${name}: sample ${Math.floor(bad / row)} contains ${x.data[bad]} (as float32); remove or impute non-finite values before using the data.`,
    );
  }
  return x;
}

/** UTF-8 text without NUL bytes in the first 8 KiB: what a CSV file looks like. */
function looksLikeText(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, 8192);
  if (head.includes(0)) return false;
  try {
    // stream: true tolerates a multi-byte character cut at the 8 KiB boundary.
    new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** Writes arrays as an .npz that numpy.load reads, atomically (see ../fs.ts). */
export function saveNpz(path: string, arrays: Record<string, Tensor>, options: { compress?: boolean } = {}): void {
  writeFileAtomic(path, encodeNpz(arrays, options));
}
