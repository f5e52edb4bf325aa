/**
 * Tabular blind spot: targeted poisoning of a tabular classifier (a fraud detector) so that
 * the positive rows (fraud) matching a pattern, such as one merchant category, pass as
 * benign, while the model stays as it was everywhere else. Two ways in:
 * - flip: relabel positive training rows that match the pattern as benign, the targeted
 *   label flipping of Biggio, Nelson & Laskov 2012 and Xiao, Xiao & Eckert 2012 confined to
 *   one region of the feature space;
 * - inject: add new rows that match the pattern, look like its positive rows and are
 *   labelled benign, the data-injection attacker of Jagielski et al. 2018 ("Manipulating
 *   Machine Learning: Poisoning Attacks and Countermeasures for Regression Learning"), whose
 *   budget counts the added rows as a share of the clean training set.
 * An injected row mixes two positive rows that match the pattern, a + u·(b − a) with u
 * uniform, and keeps a's immutable features: the attacker transacts from an existing account
 * whose age, IP risk and failed logins it cannot choose. The constraints then round whole
 * numbers, clamp bounds and settle one-hot groups. A mix of two rows keeps every condition of
 * the pattern (=, ≤ and ≥ are kept by convex combinations and by rounding between two whole
 * numbers), so the row is both a valid transaction and inside the blind spot.
 */
import { AegisError } from "../../errors.js";
import { float32 } from "../../tensor.js";
import { projectFeasible } from "../constraints.js";
import { matchesPattern, patternText } from "./evaluate.js";
import { createManifest } from "./manifest.js";
import { budget, checkClass, drawRows } from "./rows.js";
import type { PoisoningAttack, RowPattern } from "./types.js";

export interface TabularBlindSpotParams {
  /** Conditions that all hold in the blind spot, e.g. merchant_electronics = 1. */
  pattern: RowPattern[];
  mode: "flip" | "inject";
  /** Rows flipped or injected, as a share of the clean training rows. */
  fraction: number;
  /** The positive class the model should stop seeing in the pattern (fraud). */
  source: number;
  /** The benign class the poisoned rows carry (legitimate). */
  target: number;
}

export const BLIND_SPOT_MODES = ["flip", "inject"] as const;

export const tabularBlindSpot: PoisoningAttack<TabularBlindSpotParams> = {
  name: "tabular-blind-spot",
  title: "Tabular blind spot",
  paper:
    "Biggio, Nelson & Laskov 2012 and Xiao, Xiao & Eckert 2012 (targeted label flipping); Jagielski et al. 2018, Manipulating Machine Learning: Poisoning Attacks and Countermeasures for Regression Learning (injection budget)",
  needsModel: false,
  defaults: { pattern: [], mode: "inject", fraction: 0.03, source: 1, target: 0 },
  help: {
    pattern: 'the blind spot: feature=value conditions, all of which hold, e.g. "merchant_electronics=1" or "merchant_travel=1,amount>=500"',
    mode: "flip: relabel matching positive rows as benign; inject: add new feasible rows in the pattern labelled benign (needs --constraints)",
    fraction: "rows flipped or injected, as a share of the clean training rows",
    source: "the positive class hidden in the blind spot (fraud; default 1)",
    target: "the benign class the poisoned rows carry (default 0)",
  },
  async poison(data, p, { rng, constraints }) {
    if (p.pattern.length === 0) throw new AegisError("BAD_OPTION", 'tabular-blind-spot needs a --pattern, e.g. "merchant_electronics=1"');
    if (!BLIND_SPOT_MODES.includes(p.mode)) throw new AegisError("BAD_OPTION", `--mode must be flip or inject for tabular-blind-spot, not "${p.mode}"`);
    checkClass(p.source, data.numClasses, "--source");
    checkClass(p.target, data.numClasses, "--target");
    if (p.source === p.target) throw new AegisError("BAD_OPTION", "--source and --target must be different classes");
    if (data.x.shape.length !== 2)
      throw new AegisError("BAD_DATA", `tabular-blind-spot takes rows of features [N, F], not samples of shape [${data.x.shape.join(", ")}]`);
    const [n, f] = data.x.shape;
    for (const c of p.pattern)
      if (!Number.isInteger(c.feature) || c.feature < 0 || c.feature >= f)
        throw new AegisError("BAD_OPTION", `the pattern names feature ${c.feature}, but the rows have ${f} features (0..${f - 1})`);
    const row = (i: number) => data.x.data.subarray(i * f, (i + 1) * f);
    const inPattern = data.labels.flatMap((y, i) => (y === p.source && matchesPattern(row(i), p.pattern) ? [i] : []));
    const what = `class-${p.source} rows with ${patternText(p.pattern)}`;
    const goal = { kind: "blind-spot" as const, pattern: p.pattern, positive_class: p.source, benign_class: p.target };
    const count = budget(p.fraction, n);
    if (p.mode === "flip") {
      const rows = drawRows(inPattern, count, rng, `flipping ${what}`);
      const labels = [...data.labels];
      for (const r of rows) labels[r] = p.target;
      return { x: data.x, labels, manifest: createManifest(tabularBlindSpot, p, data, goal, null, rows) };
    }
    if (!constraints)
      throw new AegisError("BAD_OPTION", "inject mode needs --constraints FILE (bounds, whole numbers, one-hot groups, immutables) so injected rows are valid");
    if (inPattern.length < 2)
      throw new AegisError("BAD_DATA", `injection mixes ${what}, but the data has ${inPattern.length}; choose a pattern with fraud in it`);
    const x = new Float32Array((n + count) * f);
    x.set(data.x.data);
    for (let k = 0; k < count; k++) {
      const a = row(inPattern[rng.int(inPattern.length)]);
      const b = row(inPattern[rng.int(inPattern.length)]);
      const u = rng.next();
      const mixed = a.map((v, j) => v + u * (b[j] - v));
      projectFeasible(mixed, a, 0, f, constraints);
      x.set(mixed, (n + k) * f);
    }
    const poisoned = { ...data, x: float32([n + count, f], x), labels: [...data.labels, ...new Array<number>(count).fill(p.target)] };
    const rows = Array.from({ length: count }, (_, k) => n + k);
    return {
      x: poisoned.x,
      labels: poisoned.labels,
      manifest: createManifest(tabularBlindSpot, p, poisoned, goal, null, rows, new Array(count).fill(p.target)),
    };
  },
};

const CONDITION = /^\s*([^<>=\s]+)\s*(<=|>=|=)\s*(-?[\d.]+(?:e-?\d+)?)\s*$/i;

/**
 * Parses `name=value,name<=value,…` (a feature is its name from `names` or its index) into
 * the conditions of a blind spot, all of which must hold.
 */
export function parsePattern(text: string, names: readonly string[] | undefined, numFeatures: number): RowPattern[] {
  const parts = text.split(/[,&]/).filter((s) => s.trim() !== "");
  if (parts.length === 0) throw new AegisError("BAD_OPTION", '--pattern is empty; give conditions like "merchant_electronics=1,amount>=500"');
  return parts.map((part) => {
    const m = CONDITION.exec(part);
    if (!m || !Number.isFinite(Number(m[3])))
      throw new AegisError("BAD_OPTION", `--pattern condition "${part.trim()}" is not feature=value, feature<=value or feature>=value`);
    const [, ref, op, value] = m;
    let feature = names?.indexOf(ref) ?? -1;
    if (feature < 0 && /^\d+$/.test(ref)) feature = Number(ref);
    if (feature < 0 || feature >= numFeatures)
      throw new AegisError(
        "BAD_OPTION",
        names
          ? `--pattern names feature "${ref}", which is not one of ${names.join(", ")}`
          : `--pattern names feature "${ref}"; without a --constraints file that names the features, use an index 0..${numFeatures - 1}`,
      );
    return { feature, op: op as RowPattern["op"], value: Number(value), ...(names ? { name: names[feature] } : {}) };
  });
}
