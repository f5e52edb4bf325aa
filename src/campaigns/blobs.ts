/**
 * Content-addressed blobs in the campaign's Redis: the model, the samples and each shard's
 * adversarial examples are stored under the SHA-256 of their bytes, and whoever reads
 * one checks the hash, so a worker never runs a model or data other than the submitter's.
 * Redis holds MNIST-sized inputs comfortably (the bundled CNN is 0.1 MB, 2,000 MNIST images
 * 6 MB); above MAX_BLOB_BYTES a campaign is refused, since a shared path or an S3-compatible
 * store would be the place for it and Aegis does not offer one yet.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { AegisError } from "../errors.js";
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
export async function putBlob(redis: Redis, prefix: string, bytes: Uint8Array, what: string, ttl = INPUT_TTL_SECONDS): Promise<string> {
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
export async function getBlob(redis: Redis, prefix: string, hash: string, what: string): Promise<Buffer> {
  const bytes = await redis.getBuffer(blobKey(prefix, hash));
  if (bytes === null)
    throw new AegisError("NOT_FOUND", `${what} ${hash.slice(0, 12)} is not in the campaign's Redis (expired or deleted); submit the campaign again`);
  const actual = sha256(bytes);
  if (actual !== hash)
    throw new AegisError(
      "INTEGRITY_FAILED",
      `${what} ${hash.slice(0, 12)} in the campaign's Redis has SHA-256 ${actual.slice(0, 12)}: it was altered after it was submitted; submit the campaign again`,
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
