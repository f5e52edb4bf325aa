/**
 * CKKS parameters (Cheon, Kim, Kim & Song 2017): the polynomial degree N (N/2 slots per
 * ciphertext), the modulus chain — q0, one prime per multiplicative level, and SEAL's
 * special prime for key switching — and the scale 2^scaleBits. Security follows the
 * HomomorphicEncryption.org Security Standard (Albrecht et al. 2018, Table 1, classical
 * attacks, ternary secret): for 128 bits, log2 of the whole modulus may not exceed the
 * bound of N. SEAL enforces the same table; Aegis refuses anything weaker before SEAL
 * sees it, and never offers a lower security level.
 */
import { AegisError } from "../../errors.js";

export interface HeParameters {
  scheme: "ckks";
  polyModulusDegree: number;
  /** Bit sizes of the primes: q0, the level primes, then the special prime. */
  coeffModulusBits: number[];
  /** log2 of the CKKS scale Δ. */
  scaleBits: number;
}

/** Largest log2(q) at 128-bit classical security, per N (HomomorphicEncryption.org standard, Table 1). */
export const MAX_COEFF_BITS_128: Readonly<Record<number, number>> = { 1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881 };

const MAX_PRIME_BITS = 60;

export function totalBits(p: HeParameters): number {
  return p.coeffModulusBits.reduce((a, b) => a + b, 0);
}

/** Multiplicative levels a ciphertext has before only q0 is left. */
export function levelsOf(p: HeParameters): number {
  return p.coeffModulusBits.length - 2;
}

/** Throws unless `p` gives at least 128-bit security and is a chain SEAL can build. */
export function checkSecurity(p: HeParameters): void {
  const bound = MAX_COEFF_BITS_128[p.polyModulusDegree];
  if (p.scheme !== "ckks") throw new AegisError("BAD_OPTION", `the scheme must be ckks, not "${p.scheme}"`);
  if (bound === undefined)
    throw new AegisError("BAD_OPTION", `the polynomial degree must be one of ${Object.keys(MAX_COEFF_BITS_128).join(", ")}, not ${p.polyModulusDegree}`);
  const bits = p.coeffModulusBits;
  if (bits.length < 2 || bits.some((b) => !Number.isInteger(b) || b < 20 || b > MAX_PRIME_BITS))
    throw new AegisError("BAD_OPTION", `the modulus chain needs at least two primes of 20 to ${MAX_PRIME_BITS} bits, not [${bits.join(", ")}]`);
  const total = totalBits(p);
  if (total > bound)
    throw new AegisError(
      "BAD_OPTION",
      `a ${total}-bit modulus at degree ${p.polyModulusDegree} is below 128-bit security (the HomomorphicEncryption.org standard allows at most ${bound} bits); use a larger --poly-degree or fewer or smaller primes`,
    );
  if (!Number.isInteger(p.scaleBits) || p.scaleBits < 20 || p.scaleBits > MAX_PRIME_BITS)
    throw new AegisError("BAD_OPTION", `the scale must be 2^20 to 2^${MAX_PRIME_BITS}, not 2^${p.scaleBits}`);
}

export interface ParameterNeeds {
  /** Multiplicative depth of the circuit. */
  depth: number;
  /** Bits above the scale that the largest value needs at the last level (sign included). */
  headroomBits: number;
  /** Slots a ciphertext must hold. */
  slots: number;
  /** Fixed polynomial degree (otherwise the smallest that fits). */
  polyModulusDegree?: number;
  /** Fixed scale (otherwise the largest the degree allows, up to 40 bits). */
  scaleBits?: number;
}

const MIN_SCALE_BITS = 22;
const MAX_SCALE_BITS = 40;

/**
 * Bits the special prime has above q0. SEAL's key switching (rotations, relinearisation)
 * adds noise of about (largest prime / special prime)·N; with the special prime only as
 * large as q0, a rotation at scale 2^29 measured 6e-4 of error, a hundred times a rescale's.
 * Ten bits more cost one bit of scale at N = 8192 and make that noise negligible.
 */
const SPECIAL_PRIME_EXTRA_BITS = 10;

/**
 * The smallest degree whose 128-bit budget holds q0 = Δ·2^headroom, `depth` primes of Δ and
 * the special prime, with the largest Δ that fits (more bits, more precision).
 */
export function chooseParameters(needs: ParameterNeeds): HeParameters {
  const degrees = needs.polyModulusDegree ? [needs.polyModulusDegree] : [4096, 8192, 16384, 32768];
  for (const n of degrees) {
    const bound = MAX_COEFF_BITS_128[n];
    if (bound === undefined) throw new AegisError("BAD_OPTION", `--poly-degree must be one of ${Object.keys(MAX_COEFF_BITS_128).join(", ")}, not ${n}`);
    if (n / 2 < needs.slots) continue;
    const fitting = Math.floor((bound - 2 * needs.headroomBits - SPECIAL_PRIME_EXTRA_BITS) / (needs.depth + 2));
    const scaleBits = needs.scaleBits ?? Math.min(MAX_SCALE_BITS, fitting, MAX_PRIME_BITS - needs.headroomBits);
    if (scaleBits < MIN_SCALE_BITS || scaleBits > fitting) continue;
    const q0 = Math.min(MAX_PRIME_BITS, scaleBits + needs.headroomBits);
    const parameters: HeParameters = {
      scheme: "ckks",
      polyModulusDegree: n,
      coeffModulusBits: [q0, ...Array<number>(needs.depth).fill(scaleBits), Math.min(MAX_PRIME_BITS, q0 + SPECIAL_PRIME_EXTRA_BITS)],
      scaleBits,
    };
    checkSecurity(parameters);
    return parameters;
  }
  const where = needs.polyModulusDegree ? `degree ${needs.polyModulusDegree}` : "any degree up to 32768";
  throw new AegisError(
    "UNSUPPORTED",
    `no 128-bit-secure CKKS parameters at ${where} hold a circuit of depth ${needs.depth} on ${needs.slots} slot${needs.slots === 1 ? "" : "s"} with a scale of at least 2^${needs.scaleBits ?? MIN_SCALE_BITS}; ${needs.polyModulusDegree ? "drop --poly-degree or give a larger one, or use" : "use"} lower-degree polynomial activations or fewer layers`,
  );
}
