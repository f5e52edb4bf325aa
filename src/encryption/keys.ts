/**
 * Keys for encryption at rest: 32 random bytes written as one line, "aegis-key-1:" and the
 * bytes in base64url, in a key file (mode 0600) or in the AEGIS_KEY environment variable
 * (AEGIS_KEY_FILE names a key file), so a service gets its key the way it gets other secrets.
 */
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { AegisError } from "../errors.js";
import { writeFileAtomic } from "../fs.js";

const PREFIX = "aegis-key-1:";
export const KEY_ENV = "AEGIS_KEY";
export const KEY_FILE_ENV = "AEGIS_KEY_FILE";

/** A short public name of a key, recorded in each file it encrypts, so the wrong key is named as such. */
export function keyId(key: Uint8Array): string {
  return createHmac("sha256", key).update("aegis key id").digest("hex").slice(0, 16);
}

export function parseKey(text: string, where: string): Buffer {
  const line = text.trim();
  const encoded = line.slice(PREFIX.length);
  const key = Buffer.from(encoded, "base64url");
  if (!line.startsWith(PREFIX) || key.length !== 32 || key.toString("base64url") !== encoded)
    throw new AegisError("BAD_OPTION", `${where} is not an Aegis encryption key (one line "${PREFIX}…" as \`aegis encrypt --new-key\` writes)`);
  return key;
}

export function readKeyFile(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `cannot read the key file ${path}; check the path, or create a key with \`aegis encrypt --new-key\``, { cause: e });
  }
  return parseKey(text, `the key file ${path}`);
}

/** Writes a new random key to `path` (mode 0600); refuses to overwrite, since files encrypted with the old key would be lost. */
export function createKeyFile(path: string): Buffer {
  if (existsSync(path))
    throw new AegisError("BAD_OPTION", `${path} exists; --new-key never overwrites a key (files encrypted with it would be lost): choose another path`);
  const key = randomBytes(32);
  writeFileAtomic(path, `${PREFIX}${key.toString("base64url")}\n`, 0o600);
  return key;
}

/** The key given on the command line, else AEGIS_KEY, else the file AEGIS_KEY_FILE names; undefined when there is none. */
export function findKey(keyFile?: string, env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  if (keyFile) return readKeyFile(keyFile);
  if (env[KEY_ENV]) return parseKey(env[KEY_ENV], `the ${KEY_ENV} environment variable`);
  if (env[KEY_FILE_ENV]) return readKeyFile(env[KEY_FILE_ENV]);
  return undefined;
}

export function requireKey(keyFile: string | undefined, why: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const key = findKey(keyFile, env);
  if (!key) throw new AegisError("BAD_OPTION", `${why} needs a key: give --key-file, or set ${KEY_ENV} or ${KEY_FILE_ENV}`);
  return key;
}
