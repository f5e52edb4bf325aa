/**
 * Honest evaluation of input defences (Athalye, Carlini & Wagner 2018, "Obfuscated Gradients
 * Give a False Sense of Security"; Carlini et al. 2019, "On Evaluating Adversarial
 * Robustness"): robust accuracy of the defended model side by side under
 *  - non-adaptive attacks: PGD crafted on the undefended model and fed to the defended one
 *    (transfer), and PGD through the defended model with naive gradients — the preprocessors'
 *    own derivatives (zero through a quantiser) and no EOT for randomised ones;
 *  - adaptive attacks: PGD through the preprocessors with BPDA, averaging `eot` draws per step
 *    for randomised ones (EOT, Athalye et al. 2018), and AutoAttack (Croce & Hein 2020) on
 *    the BPDA wrapper — "rand" (APGD-CE and APGD-DLR with 20-draw EOT) for randomised
 *    defences, "standard" otherwise.
 * Each column is a robust accuracy; "non-adaptive" is the per-sample worst case over the
 * non-adaptive attacks, "adaptive" over all of them (an adaptive attacker keeps what the
 * simple attacks found: through a median filter the true derivative beats BPDA's identity).
 * A defence that only masks gradients shows a large gap. PGD uses
 * Madry et al.'s MNIST setting (40 iterations, step 2.5·ε/40, one random start) unless told
 * otherwise. Randomised defences are scored on one fresh draw per prediction, as deployed.
 */

import type { Attack, AttackParams, CommonParams, Norm } from "../attacks/index.js";
import { autoattack, pgd } from "../attacks/index.js";
import type { Postprocessor, Preprocessor } from "../defenses/index.js";
import { defend } from "../defenses/index.js";
import type { Classifier, Labels } from "../engine/capabilities.js";
import { argmaxRow } from "../engine/trainer.js";
import { AegisError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { runCurve } from "./curve.js";

export interface DefenceEvaluationOptions {
  /** Perturbation budgets to evaluate, e.g. [0.1, 0.2, 0.3]. */
  eps: readonly number[];
  norm?: Norm;
  /** PGD iterations (default 40) and random restarts (default 1). */
  maxIter?: number;
  restarts?: number;
  /** Draws averaged per gradient of the adaptive PGD on randomised defences (default 10). */
  eot?: number;
  /** Also run AutoAttack on the BPDA wrapper (default true; it dominates the run time). */
  autoattack?: boolean;
  batchSize?: number;
  seed?: number;
  signal?: AbortSignal;
  /** Called as attacks finish: what ran, and how many of all attack runs are done. */
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface DefenceEvaluationRow {
  eps: number;
  /** The undefended model under PGD (reference). */
  undefended: number;
  /** Defended model on PGD examples crafted on the undefended model. */
  transfer: number;
  /** Defended model under PGD with naive gradients (no BPDA, no EOT). */
  naive: number;
  /** Defended model under PGD with BPDA (and EOT when randomised). */
  bpda: number;
  /** Defended model under AutoAttack on the BPDA wrapper, when it ran. */
  autoattack?: number;
  /** Per-sample worst case of transfer and naive. */
  nonAdaptive: number;
  /** Per-sample worst case of all the attacks. */
  adaptive: number;
  /** nonAdaptive − adaptive: large when the defence only masks gradients. */
  gap: number;
}

export interface DefenceEvaluation {
  defence: string[];
  randomized: boolean;
  samples: number;
  norm: Norm;
  /** Clean accuracy of the undefended and of the defended model. */
  cleanUndefended: number;
  cleanDefended: number;
  /** EOT draws of the adaptive PGD (1 for deterministic defences). */
  eot: number;
  autoattackVersion?: "standard" | "rand";
  rows: DefenceEvaluationRow[];
  /** Budgets at which the gap exceeds 10 points: the non-adaptive numbers there are not evidence of robustness. */
  maskedAt: number[];
}

/** Per-sample correctness of a model's predictions. */
async function correctness(model: Pick<Classifier, "predict">, x: Tensor<"float32">, y: Labels): Promise<boolean[]> {
  const out = await model.predict(x);
  return y.map((label, i) => argmaxRow(out, i) === label);
}

const mean = (flags: readonly boolean[]) => flags.filter(Boolean).length / flags.length;
const all = (...lists: boolean[][]) => lists[0]!.map((_, i) => lists.every((l) => l[i]));

export async function evaluateDefence(
  model: Classifier,
  defence: { preprocessors: readonly Preprocessor[]; postprocessors?: readonly Postprocessor[] },
  x: Tensor<"float32">,
  y: Labels,
  options: DefenceEvaluationOptions,
): Promise<DefenceEvaluation> {
  if (options.eps.length === 0 || options.eps.some((e) => !(e >= 0)))
    throw new AegisError("BAD_OPTION", "give one or more non-negative eps values, e.g. 0.1,0.2,0.3");
  if (x.shape[0] !== y.length) throw new AegisError("SHAPE_MISMATCH", `${x.shape[0]} inputs but ${y.length} labels; give one label per sample`);
  const norm = options.norm ?? "inf";
  const randomized = defence.preprocessors.some((p) => p.randomized);
  const eot = randomized ? (options.eot ?? 10) : 1;
  const runAutoAttack = options.autoattack ?? true;
  const version = randomized ? "rand" : "standard";
  const { preprocessors, postprocessors } = defence;
  const shown = defend(model, { preprocessors, postprocessors });
  const naive = defend(model, { preprocessors, postprocessors, gradient: "naive" });
  const adaptive = defend(model, { preprocessors, postprocessors, eot });
  const seed = options.seed ?? 0;
  const pgdParams = {
    ...pgd.defaults,
    norm,
    maxIter: options.maxIter ?? pgd.defaults.maxIter,
    restarts: options.restarts ?? pgd.defaults.restarts,
    batchSize: options.batchSize ?? pgd.defaults.batchSize,
  };
  const total = options.eps.length * (runAutoAttack ? 4 : 3);
  let done = 0;
  /** The adversarial examples of one attack at every ε, each scored on the deployed (defended) model. */
  const curve = async <M extends Classifier>(attack: Attack<CommonParams, M>, target: M, params: AttackParams, stage: string) => {
    const { runs, interrupted } = await runCurve(attack, target, x, y, {
      epsilons: options.eps,
      params,
      seed,
      signal: options.signal,
      onRun: ({ eps }) => options.onProgress?.(`${stage}, eps ${eps}`, ++done, total),
    });
    if (interrupted) throw new AegisError("INTERRUPTED", "the evaluation was interrupted; nothing was written");
    return runs.map((r) => r.output.x);
  };

  const cleanUndefended = mean(await correctness(model, x, y));
  const cleanDefended = mean(await correctness(shown, x, y));
  const transferred = await curve(pgd, model, pgdParams, "pgd on the undefended model");
  const naiveX = await curve(pgd, naive, pgdParams, "pgd with naive gradients");
  const bpdaX = await curve(pgd, adaptive, pgdParams, `pgd with bpda${randomized ? ` and ${eot}-draw eot` : ""}`);
  const autoX = runAutoAttack
    ? await curve(
        autoattack,
        shown,
        { ...autoattack.defaults, norm, version, batchSize: options.batchSize ?? autoattack.defaults.batchSize },
        `autoattack ${version}`,
      )
    : undefined;
  const rows: DefenceEvaluationRow[] = [];
  for (const [i, eps] of options.eps.entries()) {
    const undefended = await correctness(model, transferred[i], y);
    const transfer = await correctness(shown, transferred[i], y);
    const naiveOk = await correctness(shown, naiveX[i], y);
    const bpdaOk = await correctness(shown, bpdaX[i], y);
    const autoOk = autoX ? await correctness(shown, autoX[i], y) : undefined;
    const nonAdaptive = mean(all(transfer, naiveOk));
    // An adaptive attacker also keeps whatever the non-adaptive attacks found.
    const adaptiveAcc = mean(all(transfer, naiveOk, bpdaOk, ...(autoOk ? [autoOk] : [])));
    rows.push({
      eps,
      undefended: mean(undefended),
      transfer: mean(transfer),
      naive: mean(naiveOk),
      bpda: mean(bpdaOk),
      ...(autoOk ? { autoattack: mean(autoOk) } : {}),
      nonAdaptive,
      adaptive: adaptiveAcc,
      gap: nonAdaptive - adaptiveAcc,
    });
  }
  return {
    defence: preprocessors.map((p) => p.name).concat((postprocessors ?? []).map((p) => p.name)),
    randomized,
    samples: y.length,
    norm,
    cleanUndefended,
    cleanDefended,
    eot,
    ...(runAutoAttack ? { autoattackVersion: version } : {}),
    rows,
    maskedAt: rows.filter((r) => r.gap > 0.1).map((r) => r.eps),
  };
}

const percent = (v: number | undefined) => (v === undefined ? "—" : `${(100 * v).toFixed(1)}%`);

/** The evaluation as a Markdown section: settings, then one row per eps. */
export function defenceEvaluationMarkdown(e: DefenceEvaluation): string {
  const lines = [
    `## Defence evaluation: ${e.defence.join(" → ") || "no defence"}`,
    "",
    `${e.samples} samples, L${e.norm === "inf" ? "∞" : e.norm} norm. Clean accuracy ${percent(e.cleanUndefended)} undefended, ${percent(e.cleanDefended)} defended.`,
    `Non-adaptive: PGD transferred from the undefended model, and PGD with naive gradients. Adaptive: PGD with BPDA${e.randomized ? ` and ${e.eot}-draw EOT` : ""}${e.autoattackVersion ? `, and AutoAttack (${e.autoattackVersion}) on the BPDA wrapper` : ""}; the adaptive column is the per-sample worst case over every attack.`,
    "",
    "| eps | undefended | transfer | naive PGD | BPDA PGD | AutoAttack | non-adaptive | adaptive | gap |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...e.rows.map(
      (r) =>
        `| ${r.eps} | ${percent(r.undefended)} | ${percent(r.transfer)} | ${percent(r.naive)} | ${percent(r.bpda)} | ${percent(r.autoattack)} | ${percent(r.nonAdaptive)} | ${percent(r.adaptive)} | ${(100 * r.gap).toFixed(1)} pts |`,
    ),
    "",
  ];
  if (e.maskedAt.length > 0) {
    lines.push(
      `**Gradient masking:** at eps ${e.maskedAt.join(", ")} the adaptive attacks bring robust accuracy more than 10 points below the non-adaptive ones; only the adaptive numbers measure this defence.`,
      "",
    );
  }
  return lines.join("\n");
}
