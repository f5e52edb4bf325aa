/**
 * What the text attacks share: token ids travel as float32 rows [N, T], the model's
 * embedding table is [V, D] row-major, and some ids (padding) are never replaced nor put in.
 */
import { AegisError } from "../errors.js";

export interface TokenParams {
  /** Ids never replaced and never put in (padding, special tokens). */
  frozenTokens: readonly number[];
}

/** The --help-attack lines of the parameters every text attack has. */
export const TOKEN_HELP = {
  eps: "the most tokens that may change per sample",
  norm: "0: ε counts substituted tokens",
  targeted: "reach the given target classes instead of leaving the labels",
  frozenTokens: 'token ids never replaced nor put in, e.g. padding and special tokens ("0,101,102")',
  batchSize: "samples per gradient call",
};

/** The frozen ids of a run, checked; a list given as "0,101,102" on the command line is split. */
export function frozenSet(frozen: TokenParams["frozenTokens"] | string | number, vocabulary: number): Set<number> {
  const list =
    typeof frozen === "string"
      ? frozen
          .split(",")
          .filter((s) => s.trim() !== "")
          .map(Number)
      : typeof frozen === "number"
        ? [frozen]
        : frozen;
  for (const id of list) {
    if (!Number.isInteger(id) || id < 0) throw new AegisError("BAD_OPTION", `frozenTokens must be token ids (non-negative integers), not ${id}`);
  }
  return new Set(list.filter((id) => id < vocabulary));
}

/** The id whose embedding is nearest (L2) to `v`, among ids not excluded. */
export function nearestToken(table: Float32Array, dimension: number, v: Float32Array, excluded: ReadonlySet<number>): number {
  const vocabulary = table.length / dimension;
  let best = -1;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (let id = 0; id < vocabulary; id++) {
    if (excluded.has(id)) continue;
    let d = 0;
    for (let j = 0, o = id * dimension; j < dimension; j++, o++) {
      const diff = table[o] - v[j];
      d += diff * diff;
    }
    if (d < bestDistance) {
      bestDistance = d;
      best = id;
    }
  }
  return best;
}

/** Positions of row `i` (length t) where `a` and `b` hold different ids. */
export function changedPositions(a: Float32Array, b: Float32Array, i: number, t: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < t; p++) if (a[i * t + p] !== b[i * t + p]) out.push(p);
  return out;
}

/** The budget ε of a text attack: a whole number of tokens. */
export function tokenBudget(name: string, eps: number): number {
  if (!(eps >= 1) || !Number.isFinite(eps))
    throw new AegisError("BAD_OPTION", `${name}: eps is the number of tokens that may change and must be at least 1, not ${eps}`);
  return Math.floor(eps);
}
