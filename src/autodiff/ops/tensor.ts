import type { VjpRule } from "../rule.js";
import { Concat } from "./Concat.js";
import { Constant } from "./Constant.js";
import { Expand } from "./Expand.js";
import { Flatten } from "./Flatten.js";
import { GatherElements } from "./GatherElements.js";
import { Pad } from "./Pad.js";
import { Reshape } from "./Reshape.js";
import { Slice } from "./Slice.js";
import { Split } from "./Split.js";
import { Squeeze } from "./Squeeze.js";
import { Tile } from "./Tile.js";
import { TopK } from "./TopK.js";
import { Transpose } from "./Transpose.js";
import { Unsqueeze } from "./Unsqueeze.js";
import { Where } from "./Where.js";

export const TENSOR_RULES: readonly VjpRule[] = [
  Flatten,
  Reshape,
  Transpose,
  Concat,
  Split,
  Slice,
  Squeeze,
  Unsqueeze,
  Pad,
  Expand,
  Tile,
  Where,
  TopK,
  GatherElements,
  Constant,
];
