/**
 * Shamir's t-of-n secret sharing (Shamir 1979, "How to Share a Secret") over the prime
 * field GF(2^521 − 1), the largest Mersenne prime below 2^528: a 32-byte secret (an X25519
 * private key or a mask seed of Bonawitz et al. 2017) is one field element, and any t shares
 * recover it while t − 1 reveal nothing. The secret is the constant term of a random
 * polynomial of degree t − 1; the share of party x (x = 1, 2, …) is the polynomial at x.
 * Coefficients come from node:crypto's CSPRNG. Reconstruction interpolates at 0 from the
 * first t shares and checks every further share against the same polynomial, so a
 * corrupted share among more than t is refused rather than silently decoded.
 */
import { randomBytes } from "node:crypto";
import { AegisError } from "../../../errors.js";

/** 2^521 − 1. */
export const SHAMIR_PRIME = (1n << 521n) - 1n;
/** Bytes of a share's value (521 bits). */
export const SHARE_BYTES = 66;

export interface Share {
  /** The holder's evaluation point, 1 … n. */
  x: number;
  /** The polynomial's value at x, big-endian, SHARE_BYTES long. */
  y: Uint8Array;
}

const mod = (a: bigint): bigint => {
  const r = a % SHAMIR_PRIME;
  return r < 0n ? r + SHAMIR_PRIME : r;
};

function randomElement(): bigint {
  // 521 random bits; the one value ≥ p (p itself) is rejected.
  for (;;) {
    const bytes = randomBytes(SHARE_BYTES);
    bytes[0] &= 0x01;
    const value = toBigInt(bytes);
    if (value < SHAMIR_PRIME) return value;
  }
}

export function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return value;
}

export function fromBigInt(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new RangeError(`${value} does not fit in ${length} bytes`);
  return out;
}

/** Shares of `secret` (at most 65 bytes) for the parties `holders` (distinct positive x); any `threshold` of them recover it. */
export function splitSecret(secret: Uint8Array, threshold: number, holders: readonly number[]): Share[] {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > holders.length)
    throw new AegisError("BAD_OPTION", `the sharing threshold must be an integer from 1 to the ${holders.length} parties, not ${threshold}`);
  if (secret.length >= SHARE_BYTES) throw new RangeError(`a Shamir secret here holds at most ${SHARE_BYTES - 1} bytes`);
  const coefficients = [toBigInt(secret), ...Array.from({ length: threshold - 1 }, randomElement)];
  return holders.map((holder) => {
    const x = BigInt(holder);
    // Horner's rule from the highest coefficient.
    let y = 0n;
    for (let k = coefficients.length - 1; k >= 0; k--) y = mod(y * x + coefficients[k]);
    return { x: holder, y: fromBigInt(y, SHARE_BYTES) };
  });
}

/**
 * Reconstructs secrets from shares held by the parties `holders` (distinct x), all with the
 * same holders: the Lagrange weights are computed once, so the server's many
 * reconstructions of an unmasking round cost t multiplications per share each.
 */
export class ShareCombiner {
  private readonly basis: readonly number[];
  private readonly extras: readonly number[];
  /** Weights of the basis shares at 0 (the secret) and at each extra holder's x. */
  private readonly atZero: readonly bigint[];
  private readonly atExtra: readonly (readonly bigint[])[];

  constructor(
    holders: readonly number[],
    readonly threshold: number,
  ) {
    if (new Set(holders).size !== holders.length) throw new AegisError("INTEGRITY_FAILED", "two shares claim the same holder; refusing to reconstruct");
    if (holders.length < threshold)
      throw new AegisError("BAD_OPTION", `only ${holders.length} shares arrived and ${threshold} are needed to reconstruct a secret`);
    this.basis = holders.slice(0, threshold);
    this.extras = holders.slice(threshold);
    this.atZero = lagrangeWeights(this.basis, 0);
    this.atExtra = this.extras.map((x) => lagrangeWeights(this.basis, x));
  }

  /** The secret (`length` bytes); `shareValue(x)` is the share value of holder x. */
  combine(shareValue: (x: number) => Uint8Array, length: number): Uint8Array {
    const ys = this.basis.map((x) => toBigInt(shareValue(x)));
    const at = (weights: readonly bigint[]) => mod(weights.reduce((sum, w, j) => sum + w * ys[j], 0n));
    for (const [e, x] of this.extras.entries()) {
      if (at(this.atExtra[e]) !== toBigInt(shareValue(x)))
        throw new AegisError(
          "INTEGRITY_FAILED",
          `the share held by party ${x} does not lie on the polynomial of the others: a share was altered; refusing to reconstruct`,
        );
    }
    const secret = at(this.atZero);
    if (secret >= 1n << BigInt(8 * length))
      throw new AegisError("INTEGRITY_FAILED", "the reconstructed secret is out of range: a share was altered; refusing to use it");
    return fromBigInt(secret, length);
  }
}

/** The secret (`length` bytes) from at least `threshold` shares. */
export function combineShares(shares: readonly Share[], threshold: number, length: number): Uint8Array {
  const byHolder = new Map(shares.map((s) => [s.x, s.y]));
  return new ShareCombiner(
    shares.map((s) => s.x),
    threshold,
  ).combine((x) => byHolder.get(x) as Uint8Array, length);
}

/** λ_j(at) = Π_{m≠j} (at − x_m) / (x_j − x_m): the polynomial through the basis at `at` is Σ λ_j y_j. */
function lagrangeWeights(basis: readonly number[], at: number): bigint[] {
  return basis.map((xj) => {
    let numerator = 1n;
    let denominator = 1n;
    for (const xm of basis) {
      if (xm === xj) continue;
      numerator = mod(numerator * BigInt(at - xm));
      denominator = mod(denominator * BigInt(xj - xm));
    }
    return mod(numerator * inverse(denominator));
  });
}
/** a⁻¹ mod p by the extended Euclidean algorithm. */
function inverse(a: bigint): bigint {
  let [r0, r1] = [SHAMIR_PRIME, mod(a)];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return mod(t0);
}
