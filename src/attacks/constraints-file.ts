/**
 * Reads the tabular constraints a user gives as `--constraints FILE`: a JSON object
 *
 *   { "features": ["amount", …],            optional names, one per feature
 *     "lower": [0, …], "upper": [10000, …],  one bound per feature (null: unbounded),
 *                                           or {"amount": 0, …} for some features only
 *     "immutable": ["account_age_days"],     features the attacker cannot change
 *     "integer": [1, 2],                     whole-number features
 *     "one_hot": [[3, 4, 5, 6]] }            groups that one-hot encode a category
 *
 * where a feature is its index or, when "features" is given, its name. Every mistake is
 * reported with the key it is in and what to write instead.
 */
import { readFileSync } from "node:fs";
import { AegisError } from "../errors.js";
import type { FeatureConstraints } from "./types.js";

const KEYS = ["features", "lower", "upper", "immutable", "integer", "one_hot"];

export function loadConstraintsFile(path: string, numFeatures: number): FeatureConstraints {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `constraints file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"}); check the path`, {
      cause: e,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AegisError("BAD_OPTION", `constraints file ${path} is not valid JSON (${(e as Error).message}); fix its syntax`, { cause: e });
  }
  return parseConstraints(value, numFeatures, path);
}

/** Validates a parsed constraints object against the model's number of input features. */
export function parseConstraints(value: unknown, numFeatures: number, source = "the constraints"): FeatureConstraints {
  const fail = (message: string): never => {
    throw new AegisError("BAD_OPTION", `${source}: ${message}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(`expected a JSON object with keys ${KEYS.join(", ")}`);
  }
  const spec = value as Record<string, unknown>;
  for (const key of Object.keys(spec)) if (!KEYS.includes(key)) fail(`unknown key "${key}"; the keys are ${KEYS.join(", ")}`);

  let names: string[] | undefined;
  if (spec.features !== undefined) {
    const f = spec.features;
    if (!Array.isArray(f) || !f.every((n) => typeof n === "string")) return fail(`"features" must be a list of feature names`);
    if (f.length !== numFeatures) fail(`"features" names ${f.length} features but the model takes ${numFeatures}; give one name per input feature`);
    const seen = new Set<string>();
    for (const n of f) {
      if (seen.has(n)) fail(`feature name "${n}" appears twice in "features"`);
      seen.add(n);
    }
    names = f;
  }

  const feature = (ref: unknown, where: string): number => {
    if (typeof ref === "string") {
      if (!names) return fail(`${where} names feature "${ref}" but there is no "features" list; add one or use indices`);
      const j = names.indexOf(ref);
      if (j < 0) fail(`${where} names feature "${ref}", which is not in "features"`);
      return j;
    }
    if (typeof ref !== "number" || !Number.isInteger(ref) || ref < 0 || ref >= numFeatures) {
      return fail(`${where} has ${JSON.stringify(ref)}; a feature is an index 0..${numFeatures - 1}${names ? ' or a name from "features"' : ""}`);
    }
    return ref;
  };

  const featureList = (key: string): number[] | undefined => {
    const list = spec[key];
    if (list === undefined) return undefined;
    if (!Array.isArray(list)) return fail(`"${key}" must be a list of features`);
    const out = list.map((ref, i) => feature(ref, `"${key}"[${i}]`));
    if (new Set(out).size !== out.length) fail(`"${key}" lists a feature twice`);
    return out;
  };

  const bounds = (key: "lower" | "upper"): Float32Array | undefined => {
    const b = spec[key];
    if (b === undefined) return undefined;
    const out = new Float32Array(numFeatures).fill(key === "lower" ? -Infinity : Infinity);
    const set = (j: number, v: unknown, where: string) => {
      if (v === null) return;
      if (typeof v !== "number" || !Number.isFinite(v)) fail(`${where} is ${JSON.stringify(v)}; a bound is a finite number, or null for none`);
      out[j] = v as number;
    };
    if (Array.isArray(b)) {
      if (b.length !== numFeatures) fail(`"${key}" has ${b.length} bounds but the model takes ${numFeatures} features; give one per feature (null for none)`);
      for (let j = 0; j < b.length; j++) set(j, b[j], `"${key}"[${j}]`);
    } else if (typeof b === "object" && b !== null) {
      for (const [ref, v] of Object.entries(b)) set(feature(/^\d+$/.test(ref) ? Number(ref) : ref, `"${key}"`), v, `"${key}"."${ref}"`);
    } else {
      fail(`"${key}" must be a list with one bound per feature or an object {feature: bound}`);
    }
    return out;
  };

  const constraints: FeatureConstraints = names ? { names } : {};
  const lower = bounds("lower");
  const upper = bounds("upper");
  if (lower && upper) {
    for (let j = 0; j < numFeatures; j++) {
      if (lower[j] > upper[j]) fail(`feature ${names?.[j] ?? j} has lower bound ${lower[j]} above its upper bound ${upper[j]}`);
    }
  }
  if (lower) constraints.lower = lower;
  if (upper) constraints.upper = upper;
  const immutable = featureList("immutable");
  if (immutable) constraints.immutable = immutable;
  const integer = featureList("integer");
  if (integer) constraints.integer = integer;

  if (spec.one_hot !== undefined) {
    if (!Array.isArray(spec.one_hot)) return fail(`"one_hot" must be a list of groups, e.g. [[3, 4, 5, 6]]`);
    const used = new Set<number>();
    constraints.oneHot = spec.one_hot.map((group, g) => {
      if (!Array.isArray(group) || group.length < 2) return fail(`"one_hot"[${g}] must list at least two features`);
      return group.map((ref, i) => {
        const j = feature(ref, `"one_hot"[${g}][${i}]`);
        if (used.has(j)) fail(`feature ${names?.[j] ?? j} is in two one-hot groups (or twice in one)`);
        used.add(j);
        // The projection sets members to exactly 0 or 1, which the bounds must allow.
        if ((lower && lower[j] > 0) || (upper && upper[j] < 1)) fail(`one-hot feature ${names?.[j] ?? j} has bounds that exclude 0 or 1`);
        return j;
      });
    });
  }
  return constraints;
}
