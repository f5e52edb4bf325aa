/**
 * AutoAttack — Croce & Hein, "Reliable evaluation of adversarial robustness with an
 * ensemble of diverse parameter-free attacks", ICML 2020. A parameter-free ensemble that
 * measures per-sample worst-case robustness: each attack runs only on the samples that
 * every previous one failed to break. Version "standard": APGD-CE (one run), APGD-T
 * (9 target classes), FAB-T (9 target classes), all of 100 iterations, then Square
 * (5000 queries). Version "rand", for randomised defences: APGD-CE and APGD-DLR, each
 * step averaging 20 gradients (expectation over transformation).
 * The output's `brokenBy` names, per sample, the attack that broke it ("clean" when the
 * model misclassifies it unperturbed, null when it stays robust); samples that stay
 * robust keep their input, as in the authors' code.
 * Deviations, so that it also runs on small tabular models (`attacks` lists what ran):
 * Square needs images (the caller's input kind, else a [C, H, W] or [H, W] sample) and is left out on other data; the DLR losses
 * need 3 (APGD-DLR) and 4 (APGD-T) classes, and their attacks are left out below that.
 * L1 is not offered (its APGD is a later paper).
 */
import type { ClassGradient, Labels, LossGradient, Predictor } from "../../engine/capabilities.js";
import type { InputKind } from "../../engine/input-kind.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import { rowNorm } from "../norms.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";
import { apgdCe, apgdDlr, apgdT } from "./apgd.js";
import { fab } from "./fab.js";
import { square } from "./square.js";

export interface AutoAttackParams extends CommonParams {
  version: "standard" | "rand";
  batchSize: number;
}

export interface AutoAttackOutput extends AttackOutput {
  /** Per sample: the attack that broke it, "clean" if the model already misclassifies it, null if robust. */
  brokenBy: (string | null)[];
  /** The attacks that ran, in order. */
  attacks: string[];
}

type AutoAttackModel = Predictor & LossGradient & ClassGradient;

interface Stage {
  name: string;
  run(x: Tensor<"float32">, y: Labels, ctx: AttackContext): Promise<AttackOutput>;
}

function stages(model: AutoAttackModel, p: AutoAttackParams, sample: readonly number[], kind: InputKind | undefined): Stage[] {
  const { eps, norm, batchSize, constraints } = p;
  // Every stage keeps a tabular model's feature constraints.
  const common = { eps, norm, batchSize, targeted: false, constraints };
  const k = model.numClasses;
  if (p.version === "rand") {
    const list: Stage[] = [{ name: "apgd-ce", run: (x, y, ctx) => apgdCe.run(model, x, y, { ...apgdCe.defaults, ...common, eotIter: 20 }, ctx) }];
    if (k >= 3) list.push({ name: "apgd-dlr", run: (x, y, ctx) => apgdDlr.run(model, x, y, { ...apgdDlr.defaults, ...common, eotIter: 20 }, ctx) });
    return list;
  }
  const list: Stage[] = [{ name: "apgd-ce", run: (x, y, ctx) => apgdCe.run(model, x, y, { ...apgdCe.defaults, ...common, restarts: 1 }, ctx) }];
  if (k >= 4) list.push({ name: "apgd-t", run: (x, y, ctx) => apgdT.run(model, x, y, { ...apgdT.defaults, ...common, nTargetClasses: 9 }, ctx) });
  list.push({ name: "fab-t", run: (x, y, ctx) => fab.run(model, x, y, { ...fab.defaults, ...common, nTargetClasses: 9 }, ctx) });
  const [h, w] = sample.slice(-2);
  // From the graph when the caller knows it: a [T, F] sequence has an image's rank.
  const image = kind === undefined ? sample.length === 2 || sample.length === 3 : kind === "image";
  if (image && h >= 2 && w >= 2)
    list.push({ name: "square", run: (x, y, ctx) => square.run(model, x, y, { ...square.defaults, ...common, maxQueries: 5000 }, ctx) });
  return list;
}

export async function runAutoAttack(
  model: AutoAttackModel,
  x: Tensor<"float32">,
  y: Labels,
  p: AutoAttackParams,
  ctx: AttackContext,
): Promise<AutoAttackOutput> {
  if (p.targeted) throw new AegisError("BAD_OPTION", "AutoAttack is untargeted; for chosen target classes run apgd-t or fab with targeted");
  if (p.norm !== "inf" && p.norm !== "2") throw new AegisError("BAD_OPTION", `AutoAttack supports the inf and 2 norms, not ${p.norm}`);
  if (p.version !== "standard" && p.version !== "rand") throw new AegisError("BAD_OPTION", `AutoAttack's version is standard or rand, not "${p.version}"`);
  const n = x.shape[0];
  const row = sizeOf(x.shape.slice(1));
  const clean = await model.predict(x);
  const brokenBy: (string | null)[] = y.map((c, i) => (argmaxRow(clean, i) === c ? null : "clean"));
  const result = Float32Array.from(x.data);
  const queries = new Int32Array(n);
  let queried = false;
  const list = stages(model, p, x.shape.slice(1), ctx.inputKind);
  const delta = new Float32Array(row);
  for (const [s, stage] of list.entries()) {
    const robust = brokenBy.flatMap((b, i) => (b === null ? [i] : []));
    if (robust.length === 0 || ctx.signal?.aborted) break;
    const xs = gatherRows(x, robust);
    const ys = robust.map((i) => y[i]);
    const onProgress = (done: number, total: number) => ctx.onProgress?.(s * n + n - total + done, list.length * n);
    const out = await stage.run(xs, ys, { rng: ctx.rng, signal: ctx.signal, onProgress });
    const adv = await model.predict(out.x);
    for (const [r, i] of robust.entries()) {
      if (out.queries) {
        queries[i] += out.queries[r];
        queried = true;
      }
      if (argmaxRow(adv, r) === ys[r]) continue;
      // Per-sample worst case within the budget: count a success only inside the ε-ball.
      for (let k = 0; k < row; k++) delta[k] = out.x.data[r * row + k] - x.data[i * row + k];
      if (rowNorm(delta, 0, row, p.norm) > p.eps * (1 + 1e-5) + 1e-6) continue;
      brokenBy[i] = stage.name;
      result.set(out.x.data.subarray(r * row, (r + 1) * row), i * row);
    }
  }
  return { x: float32(x.shape, result), brokenBy, attacks: list.map((s) => s.name), queries: queried ? queries : undefined };
}

export const autoattack: Attack<AutoAttackParams, AutoAttackModel> = {
  name: "autoattack",
  title: "AutoAttack (APGD-CE, APGD-T, FAB-T, Square)",
  paper: "Croce & Hein 2020, Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks",
  needs: ["predict", "lossGradient", "classGradient"],
  norms: ["inf", "2"],
  defaults: { eps: 0.3, norm: "inf", targeted: false, version: "standard", batchSize: 128 },
  help: {
    eps: "radius of the perturbation ball",
    norm: "inf or 2",
    targeted: "not supported: AutoAttack is untargeted",
    version: "standard (APGD-CE, APGD-T, FAB-T, Square) or rand (APGD-CE and APGD-DLR with 20-draw EOT, for randomised defences)",
    batchSize: "samples per model call",
  },
  run: runAutoAttack,
};
