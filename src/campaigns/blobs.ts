/**
 * Content-addressed blobs: the model, the samples and each job's results are stored under
 * the SHA-256 of their bytes, and whoever reads one checks the hash, so a worker never runs
 * a model or data other than the submitter's. They live in the campaign's Redis, which holds
 * MNIST-sized inputs comfortably (the bundled CNN is 0.1 MB, 2,000 MNIST images 6 MB) and
 * refuses blobs over MAX_BLOB_BYTES; or, for larger ones, in a directory every machine mounts
 * (NFS, a shared volume), as files named by their hash, which expire like the Redis ones.
 * There is no S3-compatible store.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { AegisError } from "../errors.js";
import { writeFileAtomic } from "../fs.js";
import { float32, sizeOf, type Tensor } from "../tensor.js";

/** Largest blob a campaign stores in Redis. */
export const MAX_BLOB_BYTES = 256 * 1024 * 1024;
/** How long inputs outlive a campaign (a stalled job may be retried late); results are read at once. */
export const INPUT_TTL_SECONDS = 7 * 24 * 3600;
export const RESULT_TTL_SECONDS = 24 * 3600;

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const blobKey = (prefix: string, hash: string) => `${prefix}:blob:${hash}`;

/** Stores bytes under their hash, over whatever is there (so a corrupted copy is repaired by submitting again); returns the hash. */
async function putBlob(redis: Redis, prefix: string, bytes: Uint8Array, what: string, ttl = INPUT_TTL_SECONDS): Promise<string> {
  if (bytes.byteLength > MAX_BLOB_BYTES)
    throw new AegisError(
      "UNSUPPORTED",
      `${what} is ${(bytes.byteLength / 2 ** 20).toFixed(0)} MB, more than the ${MAX_BLOB_BYTES / 2 ** 20} MB a campaign keeps in Redis; run it without --queue`,
    );
  const hash = sha256(bytes);
  await redis.set(blobKey(prefix, hash), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), "EX", ttl);
  return hash;
}

/** The bytes stored under a hash, checked against it. */
async function getBlob(redis: Redis, prefix: string, hash: string, what: string): Promise<Buffer> {
  const bytes = await redis.getBuffer(blobKey(prefix, hash));
  if (bytes === null)
    throw new AegisError("NOT_FOUND", `${what} ${hash.slice(0, 12)} is not in the campaign's Redis (expired or deleted); submit the campaign again`);
  return checked(bytes, hash, what, "the campaign's Redis");
}

/** Where a campaign's blobs are: its Redis, or a shared directory. */
export interface BlobStore {
  put(bytes: Uint8Array, what: string, ttl?: number): Promise<string>;
  get(hash: string, what: string): Promise<Buffer>;
}

export function redisBlobs(redis: Redis, prefix: string): BlobStore {
  return { put: (bytes, what, ttl) => putBlob(redis, prefix, bytes, what, ttl), get: (hash, what) => getBlob(redis, prefix, hash, what) };
}

/**
 * Blobs as files `<dir>/<prefix>/<hash>` in a directory the submitter and every worker mount,
 * written atomically. No size limit. A file not written for INPUT_TTL_SECONDS has expired, as
 * an input in Redis would: the first put of each store deletes those (results, read at once,
 * are kept as long, which costs only disk). Submitting an input again rewrites it, so it lives on.
 */
export function directoryBlobs(dir: string, prefix: string, now = () => Date.now()): BlobStore {
  const folder = join(dir, prefix);
  let pruned = false;
  return {
    async put(bytes) {
      const hash = sha256(bytes);
      mkdirSync(folder, { recursive: true });
      if (!pruned) {
        pruned = true;
        removeExpired(folder, now() - INPUT_TTL_SECONDS * 1000);
      }
      writeFileAtomic(join(folder, hash), bytes);
      return hash;
    },
    async get(hash, what) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(join(folder, hash));
      } catch {
        throw new AegisError("NOT_FOUND", `${what} ${hash.slice(0, 12)} is not in ${folder}: is the same directory mounted here as --store?`);
      }
      return checked(bytes, hash, what, folder);
    },
  };
}

/** Deletes the files in `folder` last written before `cutoff` (ms); one that vanishes meanwhile (another machine pruned it) is no error. */
function removeExpired(folder: string, cutoff: number): void {
  for (const name of readdirSync(folder)) {
    const file = join(folder, name);
    try {
      const stat = statSync(file);
      if (stat.isFile() && stat.mtimeMs < cutoff) rmSync(file, { force: true });
    } catch {
      // Removed by another submitter or worker between readdir and stat.
    }
  }
}

function checked(bytes: Buffer, hash: string, what: string, where: string): Buffer {
  const actual = sha256(bytes);
  if (actual !== hash)
    throw new AegisError(
      "INTEGRITY_FAILED",
      `${what} ${hash.slice(0, 12)} in ${where} has SHA-256 ${actual.slice(0, 12)}: it was altered after it was submitted; submit the campaign again`,
    );
  return bytes;
}

/** A float32 tensor as bytes: a little-endian uint32 rank, the dimensions, then the values. */
export function encodeTensor(t: Tensor<"float32">): Uint8Array {
  const header = Uint32Array.from([t.shape.length, ...t.shape]);
  const out = new Uint8Array(header.byteLength + t.data.byteLength);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), header.byteLength);
  return out;
}

export function decodeTensor(bytes: Uint8Array): Tensor<"float32"> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rank = view.getUint32(0, true);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 * (i + 1), true));
  const start = 4 * (rank + 1);
  // Copied out: the values must be 4-byte aligned, which a view into a Buffer need not be.
  const values = new Uint8Array(4 * sizeOf(shape));
  values.set(bytes.subarray(start, start + values.length));
  return float32(shape, new Float32Array(values.buffer));
}
