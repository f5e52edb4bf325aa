/**
 * Copycat CNN — Correia-Silva, Berriel, Badue, de Souza & Oliveira-Santos, "Copycat CNN:
 * Stealing Knowledge by Persuading Confession with Random Non-Labeled Data", IJCNN 2018.
 * The attacker has natural images but no labels for them: it sends them to the victim in
 * the order it holds them, takes the answers as labels, and trains its own network on the
 * pairs. The paper's attacker gets only the top class from the API and uses images of
 * other problems (ImageNet) as well as of the task's own domain; both work here (give
 * either as thief data).
 * Deviation: given probabilities, the copy learns from them (ART's use_probability) — they
 * carry more per query than the label; `targets: "hard"` keeps the paper's top class only.
 * Defaults: 20 epochs of Adam at 1e-3, cosine-annealed, in batches of 32 (the paper fine-tunes a pretrained
 * VGG-16 for 5 epochs; a network trained from scratch on a thousand answers needs more), on
 * the answers at distillation temperature 2 (stolen-model.ts), which raised the fidelity of
 * the bundled CNN's 5,000-query copy from 98.15% to 98.70%. Shifting the digits in training
 * (`shift`) raises a convolutional copy's accuracy but costs an MLP copy fidelity, so it is
 * the attacker's choice, off by default.
 */
import { sliceRows } from "../../tensor.js";
import { checkSchedule, type LearningRateDecay } from "./stolen-model.js";
import { asTargets, queryRows, thiefData, trainOnTransferSet } from "./transfer-set.js";
import type { ExtractionAttack, TargetKind } from "./types.js";

export interface CopycatParams extends Record<string, unknown> {
  targets: TargetKind;
  epochs: number;
  batchSize: number;
  learningRate: number;
  decay: LearningRateDecay;
  temperature: number;
  shift: number;
}

export const copycat: ExtractionAttack<CopycatParams> = {
  name: "copycat",
  title: "Copycat CNN",
  paper:
    "Correia-Silva, Berriel, Badue, de Souza & Oliveira-Santos 2018, Copycat CNN: Stealing Knowledge by Persuading Confession with Random Non-Labeled Data",
  data: "natural",
  outputs: ["probabilities", "top-k", "labels"],
  defaults: { targets: "soft", epochs: 20, batchSize: 32, learningRate: 1e-3, decay: "cosine", temperature: 2, shift: 0 },
  help: {
    targets: "soft: learn from the answers as given; hard: from their top class only (the paper)",
    epochs: "training epochs over the labelled thief data",
    batchSize: "samples per training step",
    learningRate: "Adam's learning rate",
    decay: "cosine: the learning rate annealed towards 0 over the epochs (Loshchilov & Hutter 2017); none: constant",
    temperature: "distillation temperature: answers and copy softened to softmax(z/T) in training (Hinton et al. 2015); 1 learns the answers as given",
    shift: "share of each batch's images shifted by a pixel in training, with the answer for the unshifted image (no extra query)",
  },
  async run(oracle, input, params, context) {
    checkSchedule(params, oracle.inputShape);
    const thief = thiefData(input, "copycat");
    const n = Math.min(oracle.remaining, thief.shape[0]);
    const x = sliceRows(thief, 0, n);
    context.onStatus?.(`labelling ${n} thief samples`);
    const answers = await queryRows(oracle, x);
    const stolen = await trainOnTransferSet(oracle, input, params, { x, targets: asTargets(answers, params.targets) }, context);
    const notes = n < oracle.budget ? [`the thief data held ${n} samples, fewer than the budget of ${oracle.budget}`] : [];
    return { stolen, queries: n, notes };
  },
};
