/**
 * The wire protocol between `aegis fl server` and `aegis fl client`: HTTP/2 over TLS (the
 * server also answers HTTP/1.1 over TLS), a bearer token per client (and its id in
 * `x-aegis-client`, which must match the token's), JSON for control and raw little-endian
 * float32 for parameters and updates.
 *
 * | request | answer |
 * | --- | --- |
 * | `GET /v1/fl/task` | `{state: "wait" \| "train" \| "done", round, attempt, local, retryAfterMs}` |
 * | `GET /v1/fl/model` | the ONNX graph of the global model (its initial weights) |
 * | `GET /v1/fl/parameters` | the current global parameters, float32; header `x-aegis-round` |
 * | `POST /v1/fl/update` | body: the update, float32; headers `x-aegis-round`, `x-aegis-attempt`, `x-aegis-examples`; 202, or 409 when the round is not the client's to answer (not sampled, stale, already answered) |
 * | `GET /v1/fl/secagg` | under secure aggregation: what the task's stage needs (the roster and weight unit, the client's encrypted shares, the survivors) |
 * | `POST /v1/fl/secagg` | under secure aggregation: `{round, attempt, stage, …}` the client's message for the stage (secure-round.ts); 202, or 409 |
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { LocalTrainingOptions } from "../client.js";
import type { SecAggTask } from "./secure-round.js";

export const PATHS = {
  task: "/v1/fl/task",
  model: "/v1/fl/model",
  parameters: "/v1/fl/parameters",
  update: "/v1/fl/update",
  secagg: "/v1/fl/secagg",
} as const;
export const HEADERS = { client: "x-aegis-client", round: "x-aegis-round", attempt: "x-aegis-attempt", examples: "x-aegis-examples" } as const;

export interface Task {
  state: "wait" | "train" | "done";
  /** The round being trained (1-based), or the rounds completed when done. */
  round: number;
  /** Identifies one try at a round; a round that misses its minimum is tried again under a new attempt. */
  attempt: string;
  local: LocalTrainingOptions;
  retryAfterMs: number;
  /** Under secure aggregation: the protocol stage the client has to act in. */
  secagg?: SecAggTask;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Compares two hex digests in constant time. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export function floatsToBytes(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function bytesToFloats(bytes: Buffer): Float32Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Float32Array(copy.buffer, 0, Math.floor(bytes.length / 4));
}
