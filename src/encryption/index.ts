/** Encryption at rest: the chunked AES-256-GCM format, keys and recipients, and encrypted files read in memory. */

export { checkOutputName, decryptBytes, decryptFile, encryptedName, encryptFile, plaintextName, readPlaintext } from "./files.js";
export { DEFAULT_CHUNK_SIZE, ENCRYPTED_SUFFIX, encryptBytes, FORMAT_VERSION, type Header, isEncrypted } from "./format.js";
export { createIdentityFile, createKeyFile, findKey, KEY_ENV, KEY_FILE_ENV, parseKey, parseRecipient, readKeyFile, requireKey } from "./keys.js";
export { type Identity, idOf, type Recipient, type SymmetricKey } from "./recipients.js";
