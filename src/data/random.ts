/**
 * A small seeded PRNG, so that shuffles, splits, initialisations and random starts are
 * reproducible from one number on every platform (Math.random cannot be seeded).
 * The core is mulberry32 (Tommy Ettinger, 2017): 32 bits of state, period 2^32, good
 * enough for ML shuffling and noise, not for cryptography.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal N(0, 1), by the Box–Muller transform. */
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<T>(array: T[]): T[];
}

/**
 * The seed of part `index` of a seeded run (a shard, a sample): index 0 keeps the seed, and
 * the others step by the golden ratio of 2^32, so neighbouring parts do not start their
 * streams from neighbouring states.
 */
export function deriveSeed(seed: number, index: number): number {
  return (seed + Math.imul(index, 0x9e3779b9)) >>> 0;
}

export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  let state = seed >>> 0;
  // Box–Muller yields two independent normals per pair of uniforms; keep the second.
  let spare: number | undefined;

  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  const int = (n: number): number => {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`int(n) needs a positive integer n, got ${n}`);
    return Math.floor(next() * n);
  };

  return {
    next,
    int,
    normal(): number {
      if (spare !== undefined) {
        const z = spare;
        spare = undefined;
        return z;
      }
      // 1 - next() lies in (0, 1], so the logarithm is finite.
      const r = Math.sqrt(-2 * Math.log(1 - next()));
      const theta = 2 * Math.PI * next();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
    shuffle<T>(array: T[]): T[] {
      for (let i = array.length - 1; i > 0; i--) {
        const j = int(i + 1);
        const tmp = array[i] as T;
        array[i] = array[j] as T;
        array[j] = tmp;
      }
      return array;
    },
  };
}
