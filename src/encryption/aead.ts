/** AES-256-GCM with the 16-byte tag appended: the one sealing primitive of the format. */
import { createCipheriv, createDecipheriv } from "node:crypto";

export const TAG = 16;

export function seal(key: Uint8Array, nonce: Buffer, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** The plaintext, or undefined when the tag does not verify. */
export function open(key: Uint8Array, nonce: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < TAG || nonce.length !== 12) return undefined;
  const decipher = createDecipheriv("aes-256-gcm", key, nonce);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG)), decipher.final()]);
  } catch {
    return undefined;
  }
}
