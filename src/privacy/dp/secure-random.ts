/**
 * The randomness of the DP mechanisms: the keystream of AES-256 in counter mode (NIST SP
 * 800-38A) from node:crypto, keyed by 32 bytes from the operating system, or, for
 * reproducible tests and audits only, by SHA-256 of a seed. The seeded PRNG of data/random.ts
 * (mulberry32, 2³² outputs) must not be used here: one MNIST epoch of DP-SGD noise draws more
 * normals than its period, and noise anyone can regenerate protects nothing.
 * Uniforms take 53 bits, so Box–Muller's normals are not cut off in the tails (32-bit
 * uniforms would stop at 6.7σ).
 */
import { createCipheriv, createHash, randomBytes } from "node:crypto";

const CHUNK = 1 << 16;
const ZEROS = Buffer.alloc(CHUNK);

export class SecureRandom {
  private readonly cipher;
  private buffer = Buffer.alloc(0);
  private offset = 0;
  private spare: number | undefined;

  private constructor(key: Buffer) {
    this.cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  }

  /** Keyed by the operating system's entropy: what releases must use. */
  static fromEntropy(): SecureRandom {
    return new SecureRandom(randomBytes(32));
  }

  /** Keyed by a seed: the same stream every time, for tests and audits, never for a release. */
  static fromSeed(seed: number | string): SecureRandom {
    return new SecureRandom(createHash("sha256").update(`aegis-dp-noise:${seed}`).digest());
  }

  private uint32(): number {
    if (this.offset + 4 > this.buffer.length) {
      this.buffer = this.cipher.update(ZEROS);
      this.offset = 0;
    }
    const value = this.buffer.readUInt32LE(this.offset);
    this.offset += 4;
    return value;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6)) / 9007199254740992;
  }

  /** Standard normal, by the Box–Muller transform. */
  normal(): number {
    if (this.spare !== undefined) {
      const z = this.spare;
      this.spare = undefined;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(1 - this.uniform()));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Adds N(0, scale²) noise to every element of `values`, in place. */
  addNormal(values: Float32Array | Float64Array, scale: number): void {
    for (let i = 0; i < values.length; i++) values[i] += scale * this.normal();
  }
}
