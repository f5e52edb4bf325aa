/**
 * Model signing and verification in the OpenSSF model-signing format (sigstore/model-
 * transparency, predicate v1.0): a per-file SHA-256 manifest becomes the predicate of an
 * in-toto Statement v1 whose one subject is the model with a digest over all file
 * digests; the statement is signed as a DSSE envelope and stored in a Sigstore-bundle-
 * shaped JSON file. Deviations: signing is with a local key only (no Fulcio certificate,
 * no Rekor entry, so `tlogEntries` is empty), and Ed25519 keys are accepted beside
 * ECDSA P-256.
 */

import { createHash, sign as cryptoSign, verify as cryptoVerify } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { decryptBytes, ENCRYPTED_SUFFIX, type Identity, isEncrypted, plaintextName } from "../../encryption/index.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, pae } from "./dsse.js";
import { digestFor, loadPrivateKey, loadPublicKey, publicKeyHint } from "./keys.js";
import { buildManifest, DEFAULT_IGNORED, diffManifests, type ManifestEntry, rootDigest } from "./manifest.js";

export { type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, pae } from "./dsse.js";
export { generateKeys, KEY_TYPES, type KeyType } from "./keys.js";
export { buildManifest, type ManifestEntry, sha256File } from "./manifest.js";

export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const PREDICATE_TYPE = "https://model_signing/signature/v1.0";
export const BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";

export interface SignatureBundle {
  mediaType: string;
  verificationMaterial: { publicKey: { hint: string }; tlogEntries: unknown[] };
  dsseEnvelope: DsseEnvelope;
}

export interface VerifyResult {
  /** True only when the signature verifies and every file matches the signed manifest. */
  valid: boolean;
  /** Why it is not valid, in one sentence; absent when valid. */
  reason?: string;
  /** Files present now that were not signed, signed files now missing, files whose bytes differ. */
  added: string[];
  removed: string[];
  changed: string[];
}

/** Where a signature goes when no --out is given: model.sig inside a folder, FILE.sig beside a file. */
export function defaultSignaturePath(modelPath: string, isDirectory: boolean): string {
  return isDirectory ? resolve(modelPath, "model.sig") : `${modelPath}.sig`;
}

/**
 * The signature to verify a model against when none is named: the default one, or for an
 * encrypted file without one of its own, its plaintext's (signed, then encrypted).
 */
export function signatureOf(modelPath: string): string {
  const isDirectory = statSync(modelPath, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const own = defaultSignaturePath(modelPath, isDirectory);
  if (isDirectory || !modelPath.endsWith(ENCRYPTED_SUFFIX) || existsSync(own)) return own;
  const plaintext = defaultSignaturePath(join(dirname(modelPath), plaintextName(modelPath)), false);
  return existsSync(plaintext) ? plaintext : own;
}

function statement(modelPath: string, entries: ManifestEntry[], ignorePaths: string[]) {
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: basename(resolve(modelPath)), digest: { sha256: rootDigest(entries) } }],
    predicateType: PREDICATE_TYPE,
    predicate: {
      serialization: { method: "files", hash_type: "sha256", allow_symlinks: false, ignore_paths: ignorePaths },
      resources: entries.map((e) => ({ name: e.name, algorithm: "sha256", digest: e.digest })),
    },
  };
}

/** Signs the model at `modelPath` with the private key at `keyPath`, writes the bundle to `outPath` and returns it. */
export async function signModel(modelPath: string, keyPath: string, outPath: string): Promise<SignatureBundle> {
  const key = loadPrivateKey(keyPath);
  const ignorePaths = [...DEFAULT_IGNORED];
  const entries = await buildManifest(modelPath, ignorePaths, [outPath]);
  const payload = Buffer.from(JSON.stringify(statement(modelPath, entries, ignorePaths)), "utf8");
  const sig = cryptoSign(digestFor(key), pae(IN_TOTO_PAYLOAD_TYPE, payload), key);
  const hint = publicKeyHint(key);
  const bundle: SignatureBundle = {
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint }, tlogEntries: [] },
    dsseEnvelope: { payload: payload.toString("base64"), payloadType: IN_TOTO_PAYLOAD_TYPE, signatures: [{ keyid: hint, sig: sig.toString("base64") }] },
  };
  writeFileAtomic(outPath, `${JSON.stringify(bundle, null, 2)}\n`);
  return bundle;
}

function readBundle(sigPath: string): SignatureBundle {
  let text: string;
  try {
    text = readFileSync(sigPath, "utf8");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `the signature ${sigPath} does not exist; give the file \`aegis sign\` wrote with --sig.`, { cause: e });
  }
  return parseBundle(text, sigPath);
}

function parseBundle(text: string, sigPath: string): SignatureBundle {
  let bundle: SignatureBundle;
  try {
    bundle = JSON.parse(text);
  } catch (e) {
    throw new AegisError("BAD_DATA", `${sigPath} is not JSON; give the signature bundle written by \`aegis sign\`.`, { cause: e });
  }
  const env = bundle?.dsseEnvelope;
  if (typeof env?.payload !== "string" || typeof env.payloadType !== "string" || !Array.isArray(env.signatures)) {
    throw new AegisError(
      "BAD_DATA",
      `${sigPath} holds no DSSE envelope (dsseEnvelope.payload, payloadType, signatures); give a signature bundle written by \`aegis sign\`.`,
    );
  }
  return bundle;
}

const invalid = (reason: string): VerifyResult => ({ valid: false, reason, added: [], removed: [], changed: [] });

/** Reads the signed manifest out of a verified payload, or says why it cannot be trusted. */
function signedManifest(payload: Buffer): { entries: ManifestEntry[]; ignorePaths: string[] } | string {
  let st: ReturnType<typeof statement>;
  try {
    st = JSON.parse(payload.toString("utf8"));
  } catch {
    return "the signed payload is not JSON";
  }
  if (st?._type !== STATEMENT_TYPE) return `the signed payload is not an in-toto ${STATEMENT_TYPE} statement`;
  if (st.predicateType !== PREDICATE_TYPE) return `the statement's predicate type is ${String(st.predicateType)}, not ${PREDICATE_TYPE}`;
  const resources = st.predicate?.resources;
  if (!Array.isArray(resources) || st.subject?.length !== 1) return "the statement has no resources list or not exactly one subject";
  const entries: ManifestEntry[] = [];
  for (const r of resources) {
    if (typeof r?.name !== "string" || r.algorithm !== "sha256" || !/^[0-9a-f]{64}$/.test(String(r.digest))) {
      return `the signed resource ${JSON.stringify(r?.name)} is not a sha256 digest`;
    }
    entries.push({ name: r.name, digest: r.digest });
  }
  // The subject digest is what other documents cite: it must agree with the resources.
  if (st.subject[0]?.digest?.sha256 !== rootDigest(entries)) return "the statement's subject digest does not match its resources";
  const ignore = st.predicate.serialization?.ignore_paths;
  return { entries, ignorePaths: Array.isArray(ignore) ? ignore.filter((p): p is string => typeof p === "string") : [] };
}

export interface VerifyOptions {
  /** Key or identity of an encrypted model (`aegis encrypt`) signed before it was encrypted: its plaintext is hashed in memory. */
  key?: Identity;
}

/**
 * Verifies the DSSE signature in `sigPath` against the public key, then rehashes the model
 * and names every file added, removed or changed since signing. Bad key or signature files
 * throw AegisErrors; a signature that does not verify is `valid: false`, not an error.
 */
export async function verifyModelSignature(modelPath: string, sigPath: string, pubKeyPath: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const signed = verifiedManifest(readBundle(sigPath), pubKeyPath);
  if (typeof signed === "string") return invalid(signed);
  const actual = signsPlaintext(modelPath, signed.entries)
    ? plaintextManifest(modelPath, options.key)
    : await buildManifest(modelPath, signed.ignorePaths, [sigPath]);
  const diff = diffManifests(signed.entries, actual);
  const n = diff.added.length + diff.removed.length + diff.changed.length;
  if (n === 0) return { valid: true, ...diff };
  return { valid: false, reason: `${n} file${n === 1 ? "" : "s"} differ from the signed manifest`, ...diff };
}

/**
 * Verifies a signature bundle (the text `aegis sign` wrote) over one file known only by its
 * bytes (a campaign's worker holds the model, not its folder): valid when the signature
 * verifies and it signs exactly one file, named and hashed as one of `candidates` (a file,
 * or an encrypted file's plaintext).
 */
export function verifySignedFile(bundleText: string, pubKeyPath: string, candidates: readonly ManifestEntry[]): VerifyResult {
  const signed = verifiedManifest(parseBundle(bundleText, "the model's signature"), pubKeyPath);
  if (typeof signed === "string") return invalid(signed);
  if (signed.entries.length !== 1) return invalid(`the signature covers ${signed.entries.length} files, not this one model file`);
  const [entry] = signed.entries;
  if (candidates.some((c) => c.name === entry.name && c.digest === entry.digest)) return { valid: true, added: [], removed: [], changed: [] };
  return { ...invalid(`the signed ${entry.name} is not this model (another name or other bytes)`), changed: [entry.name] };
}

/** The manifest a bundle signs, once its signature verifies under the public key; else why not. */
function verifiedManifest(bundle: SignatureBundle, pubKeyPath: string): { entries: ManifestEntry[]; ignorePaths: string[] } | string {
  const key = loadPublicKey(pubKeyPath);
  const env = bundle.dsseEnvelope;
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) return `the envelope's payload type is ${env.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`;
  const payload = Buffer.from(env.payload, "base64");
  const message = pae(env.payloadType, payload);
  const verified = env.signatures.some((s) => typeof s?.sig === "string" && cryptoVerify(digestFor(key), message, key, Buffer.from(s.sig, "base64")));
  if (!verified) return `the signature was not made with the private key of ${pubKeyPath}, or the signed payload was altered`;
  return signedManifest(payload);
}

/** Whether the signature is of an encrypted file's plaintext: one file, named as the file without its .aegis. */
function signsPlaintext(modelPath: string, entries: readonly ManifestEntry[]): boolean {
  return modelPath.endsWith(ENCRYPTED_SUFFIX) && entries.length === 1 && entries[0].name === plaintextName(modelPath) && statSync(modelPath).isFile();
}

/** The manifest of an encrypted file's plaintext, decrypted in memory and never written. */
function plaintextManifest(modelPath: string, key: Identity | undefined): ManifestEntry[] {
  const bytes = readFileSync(modelPath);
  if (!isEncrypted(bytes)) throw new AegisError("BAD_DATA", `${modelPath} is named as an encrypted file but is not one; name it without ${ENCRYPTED_SUFFIX}`);
  if (!key)
    throw new AegisError(
      "BAD_OPTION",
      `the signature of ${modelPath} was made before it was encrypted, so it verifies only once decrypted: give its key (--key-file, AEGIS_KEY or AEGIS_KEY_FILE)`,
    );
  const plaintext = decryptBytes(bytes, key, modelPath);
  return [{ name: plaintextName(modelPath), digest: createHash("sha256").update(plaintext).digest("hex") }];
}
