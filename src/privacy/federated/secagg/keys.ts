/**
 * The key agreement and authenticated encryption of Bonawitz et al. 2017 (§4, KA and AE):
 * X25519 Diffie-Hellman (RFC 7748, node:crypto) with HKDF-SHA-256 (RFC 5869) deriving a
 * separate 32-byte key per purpose from the shared secret, and AES-256-GCM for the shares
 * clients send each other through the server. Private keys travel only as Shamir shares,
 * so they are handled as their raw 32 bytes (the PKCS#8 wrapping is added and removed here).
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { AegisError } from "../../../errors.js";

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
// DER prefixes of an X25519 PKCS#8 private key and SPKI public key (RFC 8410), before the raw 32 bytes.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

export type KeyPurpose = "mask" | "share-encryption";

export interface RawKeyPair {
  publicKey: Uint8Array;
  /** The raw 32 bytes (what gets Shamir-shared). */
  privateKey: Uint8Array;
  /** The same key parsed once, for the many agreements of a round (parsing dominates their cost). */
  privateKeyObject: KeyObject;
}

export function generateX25519(): RawKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return { publicKey: rawPublic(publicKey), privateKey: rawPrivate(privateKey), privateKeyObject: privateKey };
}

/** A raw private key parsed for `agree`. */
export function privateKeyObject(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" });
}

/** The public key of a raw private key (the server checks reconstructed keys against the advertised ones). */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return rawPublic(createPublicKey(privateKeyObject(privateKey)));
}

/** KA.agree then HKDF: the same 32 bytes for (a's private, b's public) and (b's private, a's public). */
export function agree(privateKey: KeyObject, publicKey: Uint8Array, purpose: KeyPurpose, context: string): Uint8Array {
  let secret: Buffer;
  try {
    secret = diffieHellman({ privateKey, publicKey: publicKeyObject(publicKey) });
  } catch (error) {
    throw new AegisError("INTEGRITY_FAILED", `an X25519 key agreement failed (${(error as Error).message}); a public key in the roster is invalid`);
  }
  return new Uint8Array(hkdfSync("sha256", secret, Buffer.from(context), Buffer.from(`aegis secagg ${purpose}`), KEY_BYTES));
}

/** AES-256-GCM: iv ‖ ciphertext ‖ tag, with `associated` bound to it. */
export function seal(key: Uint8Array, plaintext: Uint8Array, associated: Uint8Array): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(associated);
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** Opens what `seal` made, or refuses: `what` names the message in the error. */
export function open(key: Uint8Array, sealed: Uint8Array, associated: Uint8Array, what: string): Uint8Array {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new AegisError("INTEGRITY_FAILED", `${what} is truncated; refusing it`);
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES)).setAAD(associated);
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new AegisError("INTEGRITY_FAILED", `${what} fails AES-GCM authentication: it was altered on the way or encrypted for someone else; refusing it`);
  }
}

function rawPrivate(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_PREFIX.length));
}

function rawPublic(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length));
}

/** Parsed public keys by their bytes' identity: every advertised key is parsed once per party. */
const parsedPublicKeys = new WeakMap<Uint8Array, KeyObject>();

function publicKeyObject(raw: Uint8Array): KeyObject {
  let parsed = parsedPublicKeys.get(raw);
  if (!parsed) {
    parsed = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
    parsedPublicKeys.set(raw, parsed);
  }
  return parsed;
}
