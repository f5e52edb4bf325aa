/** Encryption at rest: the chunked AES-256-GCM format, keys, and encrypted files read in memory. */

export { decryptBytes, decryptFile, encryptedName, encryptFile, plaintextName, readPlaintext } from "./files.js";
export { DEFAULT_CHUNK_SIZE, ENCRYPTED_SUFFIX, encryptBytes, FORMAT_VERSION, type Header, isEncrypted } from "./format.js";
export { createKeyFile, findKey, KEY_ENV, KEY_FILE_ENV, keyId, parseKey, readKeyFile, requireKey } from "./keys.js";
