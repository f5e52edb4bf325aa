/**
 * Encryption at rest: AES-256-GCM in chunks, so a file of any size streams through a
 * fixed amount of memory. The construction follows the STREAM scheme of Hoang, Reyhanitabar,
 * Rogaway and Vizár (CRYPTO 2015) as age (C2SP age-encryption.org/v1) uses it:
 *
 *   "aegis-encrypted\n" | header length (u32 BE) | header (JSON) | HMAC-SHA256 of all before | chunks
 *
 * - Each file has a fresh random 32-byte file key, wrapped in one header entry per recipient
 *   (a shared key or an X25519 public key: recipients.ts); entries name their key by its id,
 *   so the wrong key is told apart from a tampered file.
 * - The header (format version, the file's name, chunk size, salt, recipients) is authenticated
 *   by an HMAC under a key derived from the file key: changing the name or the version needs the key.
 * - Chunk i is sealed under a payload key derived from the file key, with the nonce
 *   "i as 11 bytes big-endian | final flag": chunks cannot be reordered, and a file cut at a
 *   chunk boundary is caught because its last chunk does not carry the final flag.
 * Deviations from age: the header is JSON, AES-256-GCM replaces ChaCha20-Poly1305 (the
 * AES-256 that the guides ask for, and hardware-accelerated), shared keys are a recipient type
 * of their own, and the name is bound, so a model swapped for another under the same key is refused.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { AegisError } from "../errors.js";
import { open, seal, TAG } from "./aead.js";
import { type Identity, idOf, type Recipient, type Stanza, stanzaFor, unwrap, wrapFor } from "./recipients.js";

export const MAGIC = Buffer.from("aegis-encrypted\n");
export const FORMAT_VERSION = 1;
/** Encrypted files are named after the plaintext whose name they bind: model.onnx → model.onnx.aegis. */
export const ENCRYPTED_SUFFIX = ".aegis";
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
const MIN_CHUNK = 1024;
const MAX_CHUNK = 16 * 1024 * 1024;
const MAX_HEADER = 64 * 1024;
const MAC = 32;

export interface Header {
  version: number;
  /** The plaintext's file name; the encrypted file must be called name + ".aegis". */
  name: string;
  chunkSize: number;
  /** Salt of the key derivations (base64). */
  salt: string;
  recipients: Stanza[];
}

/** Random access to the encrypted bytes: a file descriptor or a buffer in memory. */
export interface ByteSource {
  size: number;
  read(offset: number, length: number): Buffer;
}

/** Where plaintext (decrypting) or ciphertext (encrypting) goes, piece by piece. */
export type ByteSink = (bytes: Uint8Array) => void;

export function isEncrypted(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.equals(bytes.subarray(0, MAGIC.length));
}

function derive(fileKey: Uint8Array, salt: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", fileKey, salt, `aegis-encrypted/${FORMAT_VERSION} ${purpose}`, 32));
}

function chunkNonce(index: number, final: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  // 2^53 chunks are far beyond any file; the top bytes of the 11-byte counter stay zero.
  nonce.writeUIntBE(Math.floor(index / 2 ** 32), 3, 4);
  nonce.writeUInt32BE(index % 2 ** 32, 7);
  nonce[11] = final ? 1 : 0;
  return nonce;
}

/**
 * Encrypts what `readChunk` yields (up to `chunkSize` bytes per call, an empty buffer at the
 * end) for `key`, binding `name`. One chunk is read ahead so the last one is known to be last.
 */
export function encryptStream(readChunk: () => Buffer, write: ByteSink, recipients: readonly Recipient[], name: string, chunkSize = DEFAULT_CHUNK_SIZE): void {
  if (recipients.length === 0) throw new AegisError("BAD_OPTION", "nobody could decrypt the file: give a key (--key-file, AEGIS_KEY) or --recipient");
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK || chunkSize > MAX_CHUNK)
    throw new AegisError("BAD_OPTION", `the chunk size must be an integer from ${MIN_CHUNK} to ${MAX_CHUNK} bytes, not ${chunkSize}`);
  if (name.length === 0 || name.includes("/") || name.includes("\\"))
    throw new AegisError("BAD_OPTION", `"${name}" is not a file name; the name bound into an encrypted file has no folder in it`);
  const fileKey = randomBytes(32);
  const salt = randomBytes(32);
  const header: Header = {
    version: FORMAT_VERSION,
    name,
    chunkSize,
    salt: salt.toString("base64"),
    recipients: recipients.map((r) => wrapFor(r, fileKey, randomBytes(12))),
  };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  const preamble = Buffer.concat([MAGIC, length, json]);
  write(preamble);
  write(
    createHmac("sha256", derive(fileKey, salt, "header"))
      .update(preamble)
      .digest(),
  );
  const payloadKey = derive(fileKey, salt, "payload");
  let current = readChunk();
  for (let index = 0; ; index++) {
    const next = current.length === chunkSize ? readChunk() : Buffer.alloc(0);
    const final = next.length === 0;
    write(seal(payloadKey, chunkNonce(index, final), current));
    if (final) return;
    current = next;
  }
}

export function encryptBytes(plaintext: Uint8Array, recipients: readonly Recipient[], name: string, chunkSize = DEFAULT_CHUNK_SIZE): Buffer {
  const parts: Uint8Array[] = [];
  let offset = 0;
  encryptStream(
    () => {
      const chunk = Buffer.from(plaintext.subarray(offset, offset + chunkSize));
      offset += chunk.length;
      return chunk;
    },
    (bytes) => parts.push(bytes),
    recipients,
    name,
    chunkSize,
  );
  return Buffer.concat(parts);
}

/** Reads and authenticates the header; returns it with the payload key and where the chunks start. */
export function openHeader(source: ByteSource, identity: Identity, where: string): { header: Header; payloadKey: Buffer; offset: number } {
  const corrupt = (what: string) =>
    new AegisError("INTEGRITY_FAILED", `${where}: ${what}; the file was altered or damaged, so nothing of it is used: restore it from a good copy`);
  if (source.size < MAGIC.length + 4 || !isEncrypted(source.read(0, MAGIC.length)))
    throw new AegisError("BAD_DATA", `${where} is not a file \`aegis encrypt\` wrote (it does not start with "aegis-encrypted")`);
  const length = source.read(MAGIC.length, 4).readUInt32BE(0);
  if (length > MAX_HEADER || MAGIC.length + 4 + length + MAC > source.size) throw corrupt("its header length is out of range");
  const preamble = source.read(0, MAGIC.length + 4 + length);
  let header: Header;
  try {
    header = JSON.parse(preamble.subarray(MAGIC.length + 4).toString("utf8")) as Header;
  } catch {
    throw corrupt("its header is not readable");
  }
  if (header.version !== FORMAT_VERSION)
    throw new AegisError(
      "UNSUPPORTED",
      `${where} is in encryption format version ${header.version}; this Aegis reads version ${FORMAT_VERSION}: upgrade Aegis`,
    );
  const stanzas = Array.isArray(header.recipients) ? header.recipients : [];
  const stanza = stanzaFor(identity, stanzas);
  if (!stanza) {
    const ids = stanzas.map((r) => `${r.type} ${r.id}`).join(", ") || "nobody";
    throw new AegisError(
      "BAD_OPTION",
      `${where} was encrypted for ${ids}, not for the ${identity.kind === "key" ? "key" : "identity"} given (${identity.kind} ${idOf(identity)}); give a key or identity it was encrypted for`,
    );
  }
  const fileKey = unwrap(identity, stanza);
  if (!fileKey) throw corrupt("its wrapped file key does not verify");
  const salt = Buffer.from(header.salt, "base64");
  const mac = createHmac("sha256", derive(fileKey, salt, "header"))
    .update(preamble)
    .digest();
  if (!timingSafeEqual(mac, source.read(preamble.length, MAC))) throw corrupt("its header (version, name or chunk size) was changed");
  if (!Number.isInteger(header.chunkSize) || header.chunkSize < MIN_CHUNK || header.chunkSize > MAX_CHUNK) throw corrupt("its chunk size is out of range");
  return { header, payloadKey: derive(fileKey, salt, "payload"), offset: preamble.length + MAC };
}

/**
 * Decrypts `source` chunk by chunk into `write`. Every chunk is authenticated before it is
 * written; a caller writing a file must still discard it when this throws (later chunks may fail).
 */
export function decryptStream(source: ByteSource, write: ByteSink, identity: Identity, where: string): Header {
  const { header, payloadKey, offset } = openHeader(source, identity, where);
  const record = header.chunkSize + TAG;
  const payload = source.size - offset;
  if (payload < TAG) throw new AegisError("INTEGRITY_FAILED", `${where} is truncated: it ends before its first chunk; restore it from a good copy`);
  const chunks = Math.ceil(payload / record);
  for (let index = 0; index < chunks; index++) {
    const start = offset + index * record;
    const sealed = source.read(start, Math.min(record, source.size - start));
    const final = index === chunks - 1;
    const plaintext = open(payloadKey, chunkNonce(index, final), sealed);
    if (plaintext) {
      write(plaintext);
      continue;
    }
    // A last chunk that verifies as a middle one means the chunks after it were cut off.
    if (final && sealed.length === record && open(payloadKey, chunkNonce(index, false), sealed))
      throw new AegisError("INTEGRITY_FAILED", `${where} is truncated: it ends after chunk ${index + 1}, which is not its last; restore it from a good copy`);
    throw new AegisError(
      "INTEGRITY_FAILED",
      `${where}: chunk ${index + 1} of ${chunks} does not verify (a changed or missing byte); the file was altered or damaged, so it is refused: restore it from a good copy`,
    );
  }
  return header;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { size: buffer.length, read: (offset, length) => buffer.subarray(offset, offset + length) };
}
