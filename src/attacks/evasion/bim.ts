/**
 * Basic Iterative Method — Kurakin, Goodfellow & Bengio, "Adversarial Examples in the
 * Physical World", ICLR workshop 2017. FGSM iterated with step α from the clean input,
 * clipped to the ε-ball: PGD without the random start. Defaults from the paper:
 * α = 1/255 (on a [0, 1] scale), min(ε·255 + 4, 1.25·ε·255) iterations.
 */
import type { LossGradient, LossName, ModelInfo } from "../../engine/capabilities.js";
import type { Attack, CommonParams } from "../types.js";
import { iterativeAttack } from "./iterative.js";

export interface BimParams extends CommonParams {
  /** Step size; default 1/255 of the input range. */
  epsStep?: number;
  /** Iterations; default min(ε·255 + 4, 1.25·ε·255) as the paper. */
  maxIter?: number;
  loss: LossName;
  batchSize: number;
}

export const bim: Attack<BimParams, LossGradient & ModelInfo> = {
  name: "bim",
  title: "Basic Iterative Method",
  paper: "Kurakin, Goodfellow & Bengio 2017, Adversarial Examples in the Physical World",
  needs: ["predict", "lossGradient"],
  norms: ["inf", "2", "1"],
  defaults: { eps: 0.3, norm: "inf", targeted: false, loss: "ce", batchSize: 128 },
  help: {
    eps: "radius of the perturbation ball",
    norm: "inf, 2 or 1",
    targeted: "move toward the given target classes",
    epsStep: "step size (default 1/255 of the input range)",
    maxIter: "iterations (default min(ε·255+4, 1.25·ε·255), in input-range units)",
    loss: "ce, margin or dlr",
    batchSize: "samples per gradient call",
  },
  run(model, x, y, p, ctx) {
    const range = model.clipRange[1] - model.clipRange[0];
    const eps255 = (p.eps / range) * 255;
    const maxIter = p.maxIter ?? Math.max(1, Math.ceil(Math.min(eps255 + 4, 1.25 * eps255)));
    const epsStep = p.epsStep ?? range / 255;
    return iterativeAttack(model, x, y, { ...p, epsStep, maxIter, randomInit: false, restarts: 1, momentum: 0 }, ctx);
  },
};
