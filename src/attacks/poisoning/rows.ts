/** Choosing which rows to poison, the same way in every attack: a seeded draw without replacement. */
import type { Rng } from "../../data/random.js";
import { AegisError } from "../../errors.js";

/** `count` distinct rows from `candidates`, drawn with the generator, in ascending order. */
export function drawRows(candidates: readonly number[], count: number, rng: Rng, what: string): number[] {
  if (count > candidates.length)
    throw new AegisError("BAD_OPTION", `${what} needs ${count} rows but the data has only ${candidates.length} that qualify; lower the poison fraction`);
  return rng
    .shuffle([...candidates])
    .slice(0, count)
    .sort((a, b) => a - b);
}

/** The number of rows a poison fraction of `rows` means (at least one). */
export function budget(fraction: number, rows: number): number {
  if (!(fraction > 0 && fraction < 1)) throw new AegisError("BAD_OPTION", `the poison fraction must be in (0, 1), not ${fraction}`);
  return Math.max(1, Math.round(fraction * rows));
}

export function checkClass(value: number, numClasses: number, flag: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= numClasses)
    throw new AegisError("BAD_OPTION", `${flag} must be a class of the data, 0..${numClasses - 1}, not ${value}`);
}
