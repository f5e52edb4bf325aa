/**
 * Every format scanner, in detection order: specific magic numbers first, pickle
 * last because protocol 0 has no magic and its detection is the loosest.
 */
import type { FormatScanner } from "../types.js";
import { ggufScanner } from "./gguf.js";
import { h5Scanner } from "./h5.js";
import { kerasScanner } from "./keras.js";
import { numpyScanner } from "./numpy.js";
import { onnxScanner } from "./onnx.js";
import { pickleScanner } from "./pickle.js";
import { legacyPytorchScanner } from "./pytorch.js";
import { safetensorsScanner } from "./safetensors.js";
import { savedModelScanner } from "./savedmodel.js";

export const formatScanners: readonly FormatScanner[] = [
  numpyScanner,
  legacyPytorchScanner,
  ggufScanner,
  safetensorsScanner,
  kerasScanner,
  h5Scanner,
  savedModelScanner,
  onnxScanner,
  pickleScanner,
];
