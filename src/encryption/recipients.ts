/**
 * Who can open an encrypted file. Each recipient gets an entry in the header holding the
 * file key, wrapped (AES-256-GCM) under:
 *  - "key": a shared 32-byte key (`aegis encrypt --new-key`);
 *  - "x25519": a key derived (HKDF-SHA256) from an X25519 exchange (RFC 7748) between a fresh
 *    ephemeral key and the recipient's public key, as age's X25519 recipients do, so several
 *    people or services each decrypt with their own private identity and no secret is shared.
 * Entries name their key by a short id, so the wrong key is told apart from a damaged file.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from "node:crypto";
import { open, seal } from "./aead.js";

/** A shared key: it both encrypts and decrypts. */
export interface SymmetricKey {
  kind: "key";
  key: Buffer;
}
export type Recipient = SymmetricKey | { kind: "x25519"; publicKey: Buffer };
export type Identity = SymmetricKey | { kind: "x25519"; privateKey: KeyObject; publicKey: Buffer };

export interface Stanza {
  type: "key" | "x25519";
  /** Which key opens it (see idOf). */
  id: string;
  /** The ephemeral X25519 public key (x25519 only), base64. */
  ephemeral?: string;
  nonce: string;
  wrapped: string;
}

// DER prefixes of a raw 32-byte X25519 key as PKCS#8 and SPKI (RFC 8410).
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");

export function x25519Private(raw: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: "der", type: "pkcs8" });
}

function x25519Public(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, raw]), format: "der", type: "spki" });
}

export function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  return publicKey.export({ format: "der", type: "spki" }).subarray(SPKI_X25519.length);
}

export function generateIdentity(): { privateKey: Buffer; publicKey: Buffer } {
  const pair = generateKeyPairSync("x25519");
  return { privateKey: pair.privateKey.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_X25519.length), publicKey: rawPublicKey(pair.publicKey) };
}

/** The short public name recorded in the header: of a shared key (an HMAC, so it reveals nothing of it) or of a public key. */
export function idOf(key: Recipient | Identity): string {
  const digest = key.kind === "key" ? createHmac("sha256", key.key).update("aegis key id") : createHash("sha256").update(key.publicKey);
  return digest.digest("hex").slice(0, 16);
}

function x25519WrapKey(shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", shared, Buffer.concat([ephemeral, recipient]), "aegis-encrypted x25519", 32));
}

export function wrapFor(recipient: Recipient, fileKey: Buffer, nonce: Buffer): Stanza {
  const base = { id: idOf(recipient), nonce: nonce.toString("base64") };
  if (recipient.kind === "key") return { type: "key", ...base, wrapped: seal(recipient.key, nonce, fileKey).toString("base64") };
  const ephemeral = generateKeyPairSync("x25519");
  const ephemeralPublic = rawPublicKey(ephemeral.publicKey);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: x25519Public(recipient.publicKey) });
  const wrapKey = x25519WrapKey(shared, ephemeralPublic, recipient.publicKey);
  return { type: "x25519", ...base, ephemeral: ephemeralPublic.toString("base64"), wrapped: seal(wrapKey, nonce, fileKey).toString("base64") };
}

/** The entry this identity opens, if the file has one for it. */
export function stanzaFor(identity: Identity, stanzas: readonly Stanza[]): Stanza | undefined {
  const id = idOf(identity);
  return stanzas.find((s) => s.type === identity.kind && s.id === id);
}

/** The file key from `stanza`, or undefined when it does not verify (a changed header). */
export function unwrap(identity: Identity, stanza: Stanza): Buffer | undefined {
  const nonce = Buffer.from(stanza.nonce, "base64");
  const wrapped = Buffer.from(stanza.wrapped, "base64");
  if (identity.kind === "key") return open(identity.key, nonce, wrapped);
  const ephemeral = Buffer.from(stanza.ephemeral ?? "", "base64");
  if (ephemeral.length !== 32) return undefined;
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: identity.privateKey, publicKey: x25519Public(ephemeral) });
  } catch {
    return undefined; // a low-order point: OpenSSL refuses the all-zero shared secret
  }
  return open(x25519WrapKey(shared, ephemeral, identity.publicKey), nonce, wrapped);
}
