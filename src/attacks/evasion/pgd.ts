/**
 * Projected Gradient Descent — Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep
 * Learning Models Resistant to Adversarial Attacks", ICLR 2018. Iterated steepest-ascent
 * steps on the loss from a uniformly random start in the ε-ball, projected back onto the
 * ball and the valid input range, with restarts. Defaults from the paper's MNIST setting:
 * 40 iterations, step 2.5·ε/iterations. L1 uses sparse steps (SLIDE, Tramèr & Boneh 2019)
 * instead of the plain L1-normalised gradient, which barely moves.
 * Deviation: a sample stops at the first iterate that fools the model.
 */
import type { LossGradient, LossName, ModelInfo } from "../../engine/capabilities.js";
import type { Attack, CommonParams } from "../types.js";
import { iterativeAttack } from "./iterative.js";

export interface PgdParams extends CommonParams {
  /** Step size; default 2.5·eps/maxIter. */
  epsStep?: number;
  maxIter: number;
  restarts: number;
  randomInit: boolean;
  loss: LossName;
  batchSize: number;
}

export const pgd: Attack<PgdParams, LossGradient & ModelInfo> = {
  name: "pgd",
  title: "Projected Gradient Descent",
  paper: "Madry, Makelov, Schmidt, Tsipras & Vladu 2018, Towards Deep Learning Models Resistant to Adversarial Attacks",
  needs: ["predict", "lossGradient"],
  norms: ["inf", "2", "1"],
  defaults: { eps: 0.3, norm: "inf", targeted: false, maxIter: 40, restarts: 1, randomInit: true, loss: "ce", batchSize: 128 },
  help: {
    eps: "radius of the perturbation ball",
    norm: "inf, 2 or 1",
    targeted: "move toward the given target classes instead of away from the labels",
    epsStep: "step size (default 2.5·eps/maxIter, as the paper)",
    maxIter: "iterations per restart",
    restarts: "random restarts; later ones only rerun the samples not yet fooled",
    randomInit: "start from a uniformly random point of the ball",
    loss: "ce, margin (Carlini–Wagner) or dlr (Croce–Hein)",
    batchSize: "samples per gradient call",
  },
  run: (model, x, y, p, ctx) => iterativeAttack(model, x, y, { ...p, epsStep: p.epsStep ?? (2.5 * p.eps) / p.maxIter, momentum: 0 }, ctx),
};
