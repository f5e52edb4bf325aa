/**
 * BadNets — Gu, Dolan-Gavitt & Garg, "BadNets: Identifying Vulnerabilities in the Machine
 * Learning Model Supply Chain", 2017. A fraction of the training rows get a trigger stamped
 * on them and their label changed: to one target class (all-to-one), or from y to
 * (y + 1) mod K (all-to-all), the paper's two MNIST attacks. A model trained on the set
 * keeps its clean accuracy and obeys the trigger. Defaults: the paper's pattern backdoor
 * (a few bright pixels in the bottom-right corner), all-to-one. The paper does not fix the
 * fraction; 10% is the setting the issue measures. Rows are changed in place (the set keeps
 * its size) and, all-to-one, drawn among rows not already of the target class.
 */
import { AegisError } from "../../errors.js";
import { createManifest } from "./manifest.js";
import { budget, checkClass, drawRows } from "./rows.js";
import { compileTrigger, stampRows, type TriggerSpec } from "./trigger.js";
import type { PoisoningAttack } from "./types.js";

export interface BadNetsParams {
  fraction: number;
  target: number;
  mode: "all-to-one" | "all-to-all";
  trigger: TriggerSpec;
}

export const badnets: PoisoningAttack<BadNetsParams> = {
  name: "badnets",
  title: "BadNets backdoor",
  paper: "Gu, Dolan-Gavitt & Garg 2017, BadNets: Identifying Vulnerabilities in the Machine Learning Model Supply Chain",
  needsModel: false,
  defaults: { fraction: 0.1, target: 0, mode: "all-to-one", trigger: { kind: "pattern", distance: 2, value: 1 } },
  help: {
    fraction: "share of the training rows poisoned",
    target: "class the trigger sends inputs to (all-to-one)",
    mode: "all-to-one, or all-to-all (class y → (y + 1) mod K)",
    trigger: "pixel, pattern (four pixels, bottom-right), patch or blend",
  },
  async poison(data, p, { rng }) {
    const n = data.x.shape[0];
    const row = data.x.data.length / n;
    if (p.mode !== "all-to-one" && p.mode !== "all-to-all") throw new AegisError("BAD_OPTION", `--mode must be all-to-one or all-to-all, not "${p.mode}"`);
    if (p.mode === "all-to-one") checkClass(p.target, data.numClasses, "--target");
    const candidates = data.labels.flatMap((y, i) => (p.mode === "all-to-all" || y !== p.target ? [i] : []));
    const rows = drawRows(candidates, budget(p.fraction, n), rng, "BadNets");
    const trigger = compileTrigger(p.trigger, data.x.shape.slice(1));
    const x = Float32Array.from(data.x.data);
    stampRows(x, row, rows, trigger);
    const labels = [...data.labels];
    for (const r of rows) labels[r] = p.mode === "all-to-one" ? p.target : (labels[r] + 1) % data.numClasses;
    const goal = { kind: "backdoor" as const, target: p.mode === "all-to-one" ? p.target : 0, mode: p.mode };
    return { x: { ...data.x, data: x }, labels, manifest: createManifest(badnets, p, data, goal, p.trigger, rows) };
  },
};
