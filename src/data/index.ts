/** Public API of aegis-ml/data: file formats, built-in datasets, labels and the seeded PRNG. */
export { type CsvData, type CsvOptions, type CsvTable, numberOf, parseCsv, parseCsvTable } from "./csv.js";
export { type Dataset, isBuiltInDataset, type LoadDatasetOptions, loadDataset, saveNpz } from "./dataset.js";
export { type ImageFolder, type ImageFolderOptions, loadImageFolder } from "./images.js";
export { checkLabels, requireLabels, toLabelIndices } from "./labels.js";
export {
  loadMnist,
  MNIST_CLASS_NAMES,
  MNIST_SPLIT_SEED,
  MNIST_TEST_SIZE,
  MNIST_TRAIN_SIZE,
  type Mnist,
  type MnistSplit,
} from "./mnist.js";
export { loadMnistFull, MNIST_FULL_TEST_SIZE, MNIST_FULL_TRAIN_SIZE } from "./mnist-full.js";
export { encodeNpy, mentionsObject, type NpyHeader, type PyValue, parseNpy, parseNpyHeader } from "./npy.js";
export { encodeNpz, parseNpz } from "./npz.js";
export { createRng, type Rng } from "./random.js";
