import type { VjpRule } from "../rule.js";
import { AveragePool } from "./AveragePool.js";
import { BatchNormalization } from "./BatchNormalization.js";
import { Conv } from "./Conv.js";
import { ConvTranspose } from "./ConvTranspose.js";
import { Gather } from "./Gather.js";
import { GlobalAveragePool } from "./GlobalAveragePool.js";
import { GlobalMaxPool } from "./GlobalMaxPool.js";
import { GRU } from "./GRU.js";
import { InstanceNormalization } from "./InstanceNormalization.js";
import { LayerNormalization } from "./LayerNormalization.js";
import { LSTM } from "./LSTM.js";
import { MatMul } from "./MatMul.js";
import { MaxPool } from "./MaxPool.js";
import { Resize } from "./Resize.js";
import { RNN } from "./RNN.js";

export const NN_RULES: readonly VjpRule[] = [
  Conv,
  ConvTranspose,
  MatMul,
  MaxPool,
  AveragePool,
  GlobalAveragePool,
  GlobalMaxPool,
  BatchNormalization,
  LayerNormalization,
  InstanceNormalization,
  Gather,
  LSTM,
  GRU,
  RNN,
  Resize,
];
