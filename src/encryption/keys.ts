/**
 * Keys for encryption at rest, each one line of text so it fits a file, an environment
 * variable or a secret store:
 *  - "aegis-key-1:" and 32 random bytes in base64url: a shared key that encrypts and decrypts;
 *  - "aegis-identity-1:" and an X25519 private key: decrypts files encrypted for its
 *    recipient, "aegis-recipient-1:" and the public key, which can be shared freely.
 * A key or identity comes from --key-file, else AEGIS_KEY (the line itself), else the file
 * AEGIS_KEY_FILE names, so a service gets its key the way it gets other secrets.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { AegisError } from "../errors.js";
import { writeFileAtomic } from "../fs.js";
import { generateIdentity, type Identity, type Recipient, rawPublicKey, type SymmetricKey, x25519Private } from "./recipients.js";

const KEY_PREFIX = "aegis-key-1:";
const IDENTITY_PREFIX = "aegis-identity-1:";
const RECIPIENT_PREFIX = "aegis-recipient-1:";
export const KEY_ENV = "AEGIS_KEY";
export const KEY_FILE_ENV = "AEGIS_KEY_FILE";

/** The 32 bytes after `prefix`, or undefined when the line is not exactly that. */
function decodeLine(line: string, prefix: string): Buffer | undefined {
  if (!line.startsWith(prefix)) return undefined;
  const encoded = line.slice(prefix.length);
  const bytes = Buffer.from(encoded, "base64url");
  return bytes.length === 32 && bytes.toString("base64url") === encoded ? bytes : undefined;
}

/** A shared key or an X25519 identity, from its one line of text. */
export function parseKey(text: string, where: string): Identity {
  const line = text.trim();
  const key = decodeLine(line, KEY_PREFIX);
  if (key) return { kind: "key", key };
  const secret = decodeLine(line, IDENTITY_PREFIX);
  if (secret) {
    const privateKey = x25519Private(secret);
    return { kind: "x25519", privateKey, publicKey: rawPublicKey(privateKey) };
  }
  throw new AegisError(
    "BAD_OPTION",
    `${where} is not an Aegis encryption key or identity (one line "${KEY_PREFIX}…" as \`aegis encrypt --new-key\` writes, or "${IDENTITY_PREFIX}…" as \`aegis encrypt --new-identity\` writes)`,
  );
}

/** A recipient: an "aegis-recipient-1:…" line, or a file holding one. */
export function parseRecipient(value: string): Recipient {
  let line = value.trim();
  if (!line.startsWith(RECIPIENT_PREFIX)) {
    try {
      line = readFileSync(value, "utf8").trim();
    } catch (e) {
      throw new AegisError("FILE_NOT_FOUND", `--recipient ${value} is neither "${RECIPIENT_PREFIX}…" nor a readable file; give a recipient or its .pub file`, {
        cause: e,
      });
    }
  }
  const publicKey = decodeLine(line, RECIPIENT_PREFIX);
  if (!publicKey) throw new AegisError("BAD_OPTION", `--recipient ${value} is not an Aegis recipient (one line "${RECIPIENT_PREFIX}…")`);
  return { kind: "x25519", publicKey };
}

export function readKeyFile(path: string): Identity {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `cannot read the key file ${path}; check the path, or create a key with \`aegis encrypt --new-key\``, { cause: e });
  }
  return parseKey(text, `the key file ${path}`);
}

function refuseExisting(path: string, flag: string): void {
  if (existsSync(path))
    throw new AegisError("BAD_OPTION", `${path} exists; ${flag} never overwrites a key (files encrypted with it would be lost): choose another path`);
}

/** Writes a new random shared key to `path` (mode 0600); refuses to overwrite, since files encrypted with the old key would be lost. */
export function createKeyFile(path: string): SymmetricKey {
  refuseExisting(path, "--new-key");
  const key = randomBytes(32);
  writeFileAtomic(path, `${KEY_PREFIX}${key.toString("base64url")}\n`, 0o600);
  return { kind: "key", key };
}

/** Writes a new X25519 identity to `path` (mode 0600) and its recipient to `path`.pub; returns the recipient. */
export function createIdentityFile(path: string): Recipient {
  refuseExisting(path, "--new-identity");
  refuseExisting(`${path}.pub`, "--new-identity");
  const { privateKey, publicKey } = generateIdentity();
  writeFileAtomic(path, `${IDENTITY_PREFIX}${privateKey.toString("base64url")}\n`, 0o600);
  writeFileAtomic(`${path}.pub`, `${RECIPIENT_PREFIX}${publicKey.toString("base64url")}\n`);
  return { kind: "x25519", publicKey };
}

/** The key given on the command line, else AEGIS_KEY, else the file AEGIS_KEY_FILE names; undefined when there is none. */
export function findKey(keyFile?: string, env: NodeJS.ProcessEnv = process.env): Identity | undefined {
  if (keyFile) return readKeyFile(keyFile);
  if (env[KEY_ENV]) return parseKey(env[KEY_ENV], `the ${KEY_ENV} environment variable`);
  if (env[KEY_FILE_ENV]) return readKeyFile(env[KEY_FILE_ENV]);
  return undefined;
}

export function requireKey(keyFile: string | undefined, why: string, env: NodeJS.ProcessEnv = process.env): Identity {
  const key = findKey(keyFile, env);
  if (!key) throw new AegisError("BAD_OPTION", `${why} needs a key: give --key-file, or set ${KEY_ENV} or ${KEY_FILE_ENV}`);
  return key;
}
