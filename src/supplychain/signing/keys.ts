/** Signing keys: Ed25519 or ECDSA P-256, PKCS#8 PEM private keys (mode 0600) and SPKI PEM public keys. */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";

export const KEY_TYPES = ["ed25519", "ecdsa-p256"] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export function generateKeys(type: KeyType, outPath: string): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = type === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const pubPath = `${outPath}.pub`;
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  try {
    // Created 0600 from the first byte (no window where others can read it), and never over an existing key.
    writeFileSync(outPath, pem, { mode: 0o600, flag: "wx" });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new AegisError("BAD_OPTION", `${outPath} already exists; choose another --out or delete the old key first.`, { cause: e });
    if (code === "ENOENT") throw new AegisError("FILE_NOT_FOUND", `Cannot write ${outPath}: its folder does not exist; create it first.`, { cause: e });
    throw e;
  }
  writeFileAtomic(pubPath, publicKey.export({ type: "spki", format: "pem" }) as string);
  return { privateKey: outPath, publicKey: pubPath };
}

function readKeyFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `the ${what} ${path} does not exist; create one with \`aegis keygen\`.`, { cause: e });
  }
}

function checkType(key: KeyObject, path: string): KeyObject {
  const ok = key.asymmetricKeyType === "ed25519" || (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1");
  if (!ok) throw new AegisError("UNSUPPORTED", `${path} is a ${key.asymmetricKeyType} key; use an Ed25519 or ECDSA P-256 key (\`aegis keygen\`).`);
  return key;
}

export function loadPrivateKey(path: string): KeyObject {
  const pem = readKeyFile(path, "private key");
  try {
    return checkType(createPrivateKey(pem), path);
  } catch (e) {
    if (e instanceof AegisError) throw e;
    throw new AegisError("BAD_DATA", `${path} is not a PEM private key; give the KEY file written by \`aegis keygen\` (not KEY.pub).`, { cause: e });
  }
}

export function loadPublicKey(path: string): KeyObject {
  const pem = readKeyFile(path, "public key");
  try {
    return checkType(createPublicKey(pem), path);
  } catch (e) {
    if (e instanceof AegisError) throw e;
    throw new AegisError("BAD_DATA", `${path} is not a PEM public key; give the KEY.pub file written by \`aegis keygen\`.`, { cause: e });
  }
}

/** Hex SHA-256 of the DER public key: the hint a verifier uses to pick the key. */
export function publicKeyHint(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return createHash("sha256")
    .update(pub.export({ type: "spki", format: "der" }))
    .digest("hex");
}

/** Ed25519 signs the message itself; ECDSA P-256 signs its SHA-256 (DER-encoded signature, as Sigstore does). */
export function digestFor(key: KeyObject): string | null {
  return key.asymmetricKeyType === "ed25519" ? null : "sha256";
}
