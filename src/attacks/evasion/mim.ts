/**
 * Momentum Iterative Method — Dong, Liao, Pang, Su, Zhu, Hu & Li, "Boosting Adversarial
 * Attacks with Momentum", CVPR 2018. BIM whose steps follow an accumulated gradient
 * g ← μ·g + ∇/‖∇‖₁. Defaults from the paper: μ = 1, 10 iterations, step ε/10.
 */
import type { LossGradient, LossName, ModelInfo } from "../../engine/capabilities.js";
import type { Attack, CommonParams } from "../types.js";
import { iterativeAttack } from "./iterative.js";

export interface MimParams extends CommonParams {
  /** Step size; default eps/maxIter. */
  epsStep?: number;
  maxIter: number;
  decay: number;
  loss: LossName;
  batchSize: number;
}

export const mim: Attack<MimParams, LossGradient & ModelInfo> = {
  name: "mim",
  title: "Momentum Iterative Method",
  paper: "Dong, Liao, Pang, Su, Zhu, Hu & Li 2018, Boosting Adversarial Attacks with Momentum",
  needs: ["predict", "lossGradient"],
  norms: ["inf", "2", "1"],
  defaults: { eps: 0.3, norm: "inf", targeted: false, maxIter: 10, decay: 1, loss: "ce", batchSize: 128 },
  help: {
    eps: "radius of the perturbation ball",
    norm: "inf, 2 or 1",
    targeted: "move toward the given target classes",
    epsStep: "step size (default eps/maxIter, as the paper)",
    maxIter: "iterations",
    decay: "momentum decay μ",
    loss: "ce, margin or dlr",
    batchSize: "samples per gradient call",
  },
  run: (model, x, y, p, ctx) =>
    iterativeAttack(model, x, y, { ...p, epsStep: p.epsStep ?? p.eps / p.maxIter, randomInit: false, restarts: 1, momentum: p.decay }, ctx),
};
