/**
 * Universal Adversarial Perturbation — Moosavi-Dezfooli, Fawzi, Fawzi & Frossard,
 * "Universal adversarial perturbations", CVPR 2017 (Algorithm 1). One perturbation v for
 * a whole data set: pass over the samples, and for each one that x + v does not fool yet,
 * find a small extra perturbation that does and project v + Δv back onto the ε-ball;
 * stop once v fools a share 1 − δ of the samples (fooling = the prediction changes), or
 * after maxIter passes. Defaults from the paper: δ = 0.2 and its L∞ budget ξ = 10 on the
 * 0–255 scale (10/255 here; MNIST needs far more, about 0.3).
 * Deviations: the inner attack is PGD or FGSM (as ART allows) instead of DeepFool; it is
 * untargeted from x + v with the clean prediction as the label, and PGD stops at its first
 * fooling step, which keeps Δv near the smallest one that works if its radius is well
 * below ε (default ε/3: on MNIST at ε = 0.3 an inner radius of ε overshoots, and v then
 * fools 45% of held-out digits instead of 74%). Samples go one at a time, as in the paper:
 * computing the Δv of a batch at the same v and adding them one by one fooled far fewer
 * digits (13% instead of 74% with batches of 64). The paper has no pass limit; 20 is
 * ART's. Progress is reported per pass.
 */

import type { Labels, LossGradient, Predictor } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import { projectFeasible } from "../constraints.js";
import { projectBall } from "../norms.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";
import { fgsm } from "./fgsm.js";
import { pgd } from "./pgd.js";

export interface UapParams extends CommonParams {
  /** Stop once the fooling rate reaches 1 − delta. */
  delta: number;
  /** Passes over the data. */
  maxIter: number;
  attacker: "pgd" | "fgsm";
  /** Radius of each inner attack; default eps/3. */
  attackerEps?: number;
  /** Iterations of an inner PGD. */
  attackerIter: number;
}

export interface UapResult {
  /** The universal perturbation, shape of one sample. */
  perturbation: Tensor<"float32">;
  /** Share of the samples whose prediction x + v changes. */
  foolingRate: number;
  /** Passes over the data that ran. */
  passes: number;
}

export interface UapOutput extends AttackOutput, UapResult {}

type Model = Predictor & LossGradient;

/** Runs Algorithm 1 on x and returns v. */
export async function universalPerturbation(model: Model, x: Tensor<"float32">, p: UapParams, ctx: AttackContext): Promise<UapResult> {
  if (p.targeted) throw new AegisError("BAD_OPTION", "uap is untargeted (a universal perturbation changes predictions, as in the paper); drop --target-class");
  if (p.norm !== "inf" && p.norm !== "2") throw new AegisError("BAD_OPTION", `uap supports --norm inf or 2, not ${p.norm}`);
  if (!(p.delta >= 0 && p.delta < 1)) throw new AegisError("BAD_OPTION", `uap's delta must be in [0, 1), not ${p.delta}`);
  const n = x.shape[0];
  const row = sizeOf(x.shape.slice(1));
  const [lo, hi] = model.clipRange;
  const v = new Float32Array(row);
  const clean = await model.predict(x);
  const cleanLabels = Array.from({ length: n }, (_, i) => argmaxRow(clean, i));
  const all = Array.from({ length: n }, (_, i) => i);
  const order = [...all];
  const innerParams = {
    ...pgd.defaults,
    eps: p.attackerEps ?? p.eps / 3,
    norm: p.norm,
    targeted: false,
    maxIter: p.attackerIter,
    randomInit: false,
    batchSize: 1,
    constraints: p.constraints,
  };

  const perturbed = (rows: readonly number[]) => {
    const base = gatherRows(x, rows);
    const out = Float32Array.from(base.data, (value, k) => Math.min(hi, Math.max(lo, value + v[k % row])));
    for (let s = 0; s < out.length; s += row) projectFeasible(out, base.data, s, row, p.constraints);
    return float32(base.shape, out);
  };
  const foolingRate = async () => {
    const out = await model.predict(perturbed(all));
    let fooled = 0;
    for (let i = 0; i < n; i++) if (argmaxRow(out, i) !== cleanLabels[i]) fooled++;
    return fooled / n;
  };

  let rate = await foolingRate();
  let passes = 0;
  while (passes < p.maxIter && rate < 1 - p.delta && !ctx.signal?.aborted) {
    ctx.rng.shuffle(order);
    for (let i = 0; i < n && !ctx.signal?.aborted; i++) {
      const xv = perturbed([order[i]]);
      const label = [cleanLabels[order[i]]];
      if (argmaxRow(await model.predict(xv), 0) === label[0]) {
        const attack =
          p.attacker === "pgd" ? pgd.run(model, xv, label, innerParams, { rng: ctx.rng }) : fgsm.run(model, xv, label, innerParams, { rng: ctx.rng });
        const { x: adv } = await attack;
        if (argmaxRow(await model.predict(adv), 0) !== label[0]) {
          for (let k = 0; k < row; k++) v[k] += adv.data[k] - xv.data[k];
          projectBall(v, 0, row, p.norm, p.eps);
        }
      }
      ctx.onProgress?.(i + 1, n);
    }
    if (!ctx.signal?.aborted) passes++;
    rate = await foolingRate();
  }
  return { perturbation: float32(x.shape.slice(1), v), foolingRate: rate, passes };
}

/** The attack spec, whose run also returns v. */
export type UapAttack = Omit<Attack<UapParams, Model>, "run"> & {
  run(model: Model, x: Tensor<"float32">, y: Labels, p: UapParams, ctx: AttackContext): Promise<UapOutput>;
};

export const uap: UapAttack = {
  name: "uap",
  joint: true,
  title: "Universal Adversarial Perturbation",
  paper: "Moosavi-Dezfooli, Fawzi, Fawzi & Frossard 2017, Universal adversarial perturbations",
  needs: ["predict", "lossGradient"],
  norms: ["inf", "2"],
  defaults: { eps: 10 / 255, norm: "inf", targeted: false, delta: 0.2, maxIter: 20, attacker: "pgd", attackerIter: 10 },
  help: {
    eps: "radius ξ of the universal perturbation (paper: 10/255 L∞ on ImageNet; MNIST needs about 0.3)",
    norm: "inf or 2",
    targeted: "not supported: a universal perturbation changes predictions to any other class",
    delta: "stop once the perturbation fools a share 1 − delta of the samples (paper: 0.2)",
    maxIter: "passes over the data (ART's 20; the paper gives no limit)",
    attacker: "inner attack for each sample not yet fooled: pgd or fgsm (the paper uses DeepFool)",
    attackerEps: "radius of each inner attack (default eps/3)",
    attackerIter: "iterations of the inner PGD",
  },
  async run(model, x, _y, p, ctx) {
    const result = await universalPerturbation(model, x, p, ctx);
    const [lo, hi] = model.clipRange;
    const row = result.perturbation.data.length;
    const adv = Float32Array.from(x.data, (value, k) => Math.min(hi, Math.max(lo, value + result.perturbation.data[k % row])));
    for (let s = 0; s < adv.length; s += row) projectFeasible(adv, x.data, s, row, p.constraints);
    ctx.onProgress?.(x.shape[0], x.shape[0]);
    return { x: float32(x.shape, adv), ...result };
  },
};
