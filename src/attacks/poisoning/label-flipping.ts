/**
 * Label flipping — the poisoning baseline of Biggio, Nelson & Laskov, "Poisoning Attacks
 * against Support Vector Machines", 2012 (random flips), and its targeted form (flip rows
 * of one source class to one target class, e.g. Xiao, Xiao & Eckert, "Adversarial Label
 * Flips Attack on Support Vector Machines", 2012). Only labels change. Random flipping
 * draws a fraction of all rows and gives each a different class uniformly at random;
 * targeted flipping draws the fraction (of the whole set) among the source class's rows.
 */
import { AegisError } from "../../errors.js";
import { createManifest } from "./manifest.js";
import { budget, checkClass, drawRows } from "./rows.js";
import type { PoisoningAttack } from "./types.js";

export interface LabelFlippingParams {
  fraction: number;
  /** Source class of a targeted flip; -1 for random flipping. */
  source: number;
  /** Target class of a targeted flip; -1 for random flipping. */
  target: number;
}

export const labelFlipping: PoisoningAttack<LabelFlippingParams> = {
  name: "label-flip",
  title: "Label flipping",
  paper: "Biggio, Nelson & Laskov 2012, Poisoning Attacks against Support Vector Machines (random); Xiao, Xiao & Eckert 2012 (targeted)",
  needsModel: false,
  defaults: { fraction: 0.1, source: -1, target: -1 },
  help: {
    fraction: "share of the training rows whose label is flipped",
    source: "targeted flipping: the class whose rows are flipped (-1: random flipping)",
    target: "targeted flipping: the class they are flipped to",
  },
  async poison(data, p, { rng }) {
    const n = data.x.shape[0];
    const targeted = p.source >= 0 || p.target >= 0;
    if (targeted) {
      checkClass(p.source, data.numClasses, "--source");
      checkClass(p.target, data.numClasses, "--target");
      if (p.source === p.target) throw new AegisError("BAD_OPTION", "--source and --target must be different classes");
    }
    const candidates = data.labels.flatMap((y, i) => (!targeted || y === p.source ? [i] : []));
    const rows = drawRows(candidates, budget(p.fraction, n), rng, "label flipping");
    const labels = [...data.labels];
    for (const r of rows) {
      // A uniformly random class other than the row's own.
      labels[r] = targeted ? p.target : (labels[r] + 1 + rng.int(data.numClasses - 1)) % data.numClasses;
    }
    const goal = { kind: "label-flip" as const, source: targeted ? p.source : null, target: targeted ? p.target : null };
    return { x: data.x, labels, manifest: createManifest(labelFlipping, p, data, goal, null, rows) };
  },
};
