/**
 * The pseudorandom generator that stretches a 32-byte seed into a mask vector of Z_{2^32}
 * (Bonawitz et al. 2017, §4: PRG(b_u) and PRG(s_{u,v})): the AES-256-CTR key stream of the
 * seed under a zero counter block, read as little-endian 32-bit words. AES-CTR is a PRG under
 * the usual assumption that AES is a pseudorandom permutation, and node:crypto runs it with
 * the CPU's AES instructions, so masking a 100,000-parameter model costs well under a
 * millisecond per seed. Every mask is used once per round: seeds are fresh each round.
 */
import { createCipheriv } from "node:crypto";
import { endianness } from "node:os";

const ZERO_COUNTER = Buffer.alloc(16);
const LITTLE_ENDIAN = endianness() === "LE";

/** `length` pseudorandom words from `seed`. */
export function maskFromSeed(seed: Uint8Array, length: number): Uint32Array {
  const cipher = createCipheriv("aes-256-ctr", seed, ZERO_COUNTER);
  const words = new Uint32Array(length);
  const bytes = new Uint8Array(words.buffer);
  // CTR encryption of zeros is the key stream itself, written straight into the words.
  const written = cipher.update(bytes);
  bytes.set(written);
  if (!LITTLE_ENDIAN) for (let i = 0; i < length; i++) words[i] = written.readUInt32LE(4 * i);
  return words;
}

/** target += sign · PRG(seed), modulo 2^32, in place. */
export function addMask(target: Uint32Array, seed: Uint8Array, sign: 1 | -1): void {
  const mask = maskFromSeed(seed, target.length);
  // Uint32Array assignment reduces modulo 2^32, which is the ring's addition.
  if (sign === 1) for (let i = 0; i < target.length; i++) target[i] = target[i] + mask[i];
  else for (let i = 0; i < target.length; i++) target[i] = target[i] - mask[i];
}
