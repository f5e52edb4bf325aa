/**
 * API keys for the guard. A key is `aegis_<id>_<secret>`: the id finds the record, the
 * 256-bit random secret proves possession. Only a salted hash of the secret is stored
 * (HMAC-SHA-256 keyed by a per-key salt) and the comparison is constant-time. A slow
 * password KDF would add milliseconds to every request without adding safety: a random
 * 256-bit secret cannot be guessed, so the salted hash only has to make a stolen keys
 * file useless, which it does.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";

export interface ApiKeyRecord {
  id: string;
  name: string;
  roles: string[];
  tenant?: string;
  salt: string;
  hash: string;
  createdAt: string;
  revokedAt?: string;
}

export interface KeysFile {
  version: 1;
  keys: ApiKeyRecord[];
}

export interface Principal {
  /** "key:<id>", "jwt:<sub>" or "anonymous". */
  id: string;
  name: string;
  roles: readonly string[];
  tenant?: string;
}

const KEY_PATTERN = /^aegis_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string, salt: string): string {
  return createHmac("sha256", Buffer.from(salt, "base64url")).update(secret).digest("base64url");
}

export function readKeysFile(path: string): KeysFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, keys: [] };
    throw e;
  }
  let parsed: KeysFile;
  try {
    parsed = JSON.parse(text) as KeysFile;
  } catch (e) {
    throw new AegisError("BAD_OPTION", `${path} is not a keys file written by \`aegis keys\` (${(e as Error).message})`, { cause: e });
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.keys))
    throw new AegisError("BAD_OPTION", `${path} is not a keys file written by \`aegis keys\` (no version 1 "keys" list)`);
  return parsed;
}

function writeKeysFile(path: string, file: KeysFile): void {
  writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, 0o600);
}

/** Adds a key to the file and returns it: the only time the full key is ever shown. */
export function createApiKey(path: string, options: { name: string; roles: string[]; tenant?: string }): { key: string; record: ApiKeyRecord } {
  if (!/^[\w.@-]{1,64}$/.test(options.name)) throw new AegisError("BAD_OPTION", `--name must be 1–64 letters, digits or . _ @ -, not "${options.name}"`);
  const file = readKeysFile(path);
  const id = randomBytes(6).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  const salt = randomBytes(16).toString("base64url");
  const record: ApiKeyRecord = {
    id,
    name: options.name,
    roles: options.roles,
    ...(options.tenant ? { tenant: options.tenant } : {}),
    salt,
    hash: hashSecret(secret, salt),
    createdAt: new Date().toISOString(),
  };
  file.keys.push(record);
  writeKeysFile(path, file);
  return { key: `aegis_${id}_${secret}`, record };
}

export function revokeApiKey(path: string, idOrName: string): ApiKeyRecord {
  const file = readKeysFile(path);
  const record = file.keys.find((k) => k.id === idOrName || k.name === idOrName);
  if (!record) throw new AegisError("NOT_FOUND", `no key with id or name "${idOrName}" in ${path}; \`aegis keys list\` shows them`);
  record.revokedAt ??= new Date().toISOString();
  writeKeysFile(path, file);
  return record;
}

/** Verifies presented keys against a loaded keys file. */
export class ApiKeyVerifier {
  private readonly byId: Map<string, ApiKeyRecord>;

  constructor(file: KeysFile) {
    this.byId = new Map(file.keys.filter((k) => !k.revokedAt).map((k) => [k.id, k]));
  }

  /** The principal of a valid, unrevoked key; undefined for anything else. */
  verify(presented: string): Principal | undefined {
    const match = KEY_PATTERN.exec(presented);
    if (!match) return undefined;
    const record = this.byId.get(match[1]);
    if (!record) return undefined;
    const expected = Buffer.from(record.hash, "base64url");
    const actual = Buffer.from(hashSecret(match[2], record.salt), "base64url");
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
    return { id: `key:${record.id}`, name: record.name, roles: record.roles, tenant: record.tenant };
  }
}
