import type { VjpRule } from "../rule.js";
import { Abs } from "./Abs.js";
import { Cast } from "./Cast.js";
import { Celu } from "./Celu.js";
import { Clip } from "./Clip.js";
import { Cos } from "./Cos.js";
import { Div } from "./Div.js";
import { Dropout } from "./Dropout.js";
import { Einsum } from "./Einsum.js";
import { Elu } from "./Elu.js";
import { Erf } from "./Erf.js";
import { Exp } from "./Exp.js";
import { Gelu } from "./Gelu.js";
import { HardSigmoid } from "./HardSigmoid.js";
import { HardSwish } from "./HardSwish.js";
import { Identity } from "./Identity.js";
import { LeakyRelu } from "./LeakyRelu.js";
import { Log } from "./Log.js";
import { LogSoftmax } from "./LogSoftmax.js";
import { Max } from "./Max.js";
import { Min } from "./Min.js";
import { Mish } from "./Mish.js";
import { Neg } from "./Neg.js";
import { Pow } from "./Pow.js";
import { PRelu } from "./PRelu.js";
import { Reciprocal } from "./Reciprocal.js";
import { ReduceMax } from "./ReduceMax.js";
import { ReduceMean } from "./ReduceMean.js";
import { ReduceSum } from "./ReduceSum.js";
import { ReduceL2, ReduceLogSumExp, ReduceSumSquare } from "./reduce-norms.js";
import { Selu } from "./Selu.js";
import { Sigmoid } from "./Sigmoid.js";
import { Sin } from "./Sin.js";
import { Softmax } from "./Softmax.js";
import { Softplus } from "./Softplus.js";
import { Softsign } from "./Softsign.js";
import { Sqrt } from "./Sqrt.js";
import { Sub } from "./Sub.js";
import { Sum } from "./Sum.js";
import { Tanh } from "./Tanh.js";

export const MATH_RULES: readonly VjpRule[] = [
  Sub,
  Div,
  Neg,
  Sum,
  Exp,
  Log,
  Sqrt,
  Reciprocal,
  Pow,
  Sin,
  Cos,
  Abs,
  Erf,
  Min,
  Max,
  Clip,
  Sigmoid,
  Tanh,
  Softplus,
  Softsign,
  PRelu,
  LeakyRelu,
  Elu,
  Selu,
  HardSigmoid,
  HardSwish,
  Mish,
  Celu,
  Gelu,
  Softmax,
  LogSoftmax,
  ReduceSum,
  Einsum,
  ReduceMean,
  ReduceMax,
  ReduceL2,
  ReduceSumSquare,
  ReduceLogSumExp,
  Cast,
  Identity,
  Dropout,
];
