/**
 * Encrypted prediction as a server runs it: the model's public parameters, the clients' key
 * sets (the most recently used kept, the rest released), and inference. A request costs
 * SEAL seconds of CPU, so by default it all runs in a worker thread of its own: the server's
 * event loop keeps answering its other routes, health checks and metrics meanwhile.
 */
import type { Worker } from "node:worker_threads";
import { AegisError, type ErrorCode, isAegisError } from "../../errors.js";
import { startWorker } from "../../threads.js";
import type { HePublicParams } from "./compile.js";
import { HeEvaluator, type KeySet } from "./evaluator.js";
import type { HeModel } from "./model-file.js";

export interface HeService {
  readonly name: string;
  readonly params: HePublicParams;
  /** Loads a client's public-keys container; answers its key id. */
  registerKeys(bytes: Uint8Array): Promise<string>;
  /** Runs an encrypted request under keys registered before; answers the response container. */
  infer(request: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface HeServiceOptions {
  /** Key sets kept (default 16). */
  maxKeySets?: number;
  /** Run on the caller's thread instead of a worker (tools and tests that do one thing at a time). */
  inline?: boolean;
}

/** The key sets of one model, most recently used last, and what runs with them: the synchronous core both threads use. */
export class KeyRing {
  private readonly keys = new Map<string, KeySet>();

  constructor(
    private readonly evaluator: HeEvaluator,
    private readonly maxKeySets = 16,
    private readonly base = "",
  ) {}

  register(bytes: Uint8Array): string {
    const loaded = this.evaluator.loadKeys(bytes, "the uploaded keys");
    this.keys.get(loaded.keyId)?.release();
    this.keys.delete(loaded.keyId);
    this.keys.set(loaded.keyId, loaded);
    for (const [id, old] of this.keys) {
      if (this.keys.size <= this.maxKeySets) break;
      old.release();
      this.keys.delete(id);
    }
    return loaded.keyId;
  }

  infer(request: Uint8Array): Uint8Array {
    const keyId = this.evaluator.requestKeyId(request);
    const keySet = this.keys.get(keyId);
    if (!keySet) throw new AegisError("NOT_FOUND", `no keys registered under the request's key id; POST them to ${this.base}/keys first`);
    this.keys.delete(keyId);
    this.keys.set(keyId, keySet);
    return this.evaluator.infer(request, keySet);
  }

  release(): void {
    for (const k of this.keys.values()) k.release();
    this.keys.clear();
  }
}

export async function startHeService(name: string, model: HeModel, options: HeServiceOptions = {}): Promise<HeService> {
  const base = `/v1/he/${encodeURIComponent(name)}`;
  if (options.inline) {
    const ring = new KeyRing(await HeEvaluator.create(model), options.maxKeySets, base);
    return {
      name,
      params: model.params,
      registerKeys: async (bytes) => ring.register(bytes),
      infer: async (request) => ring.infer(request),
      close: async () => ring.release(),
    };
  }
  return WorkerService.start(name, model, options.maxKeySets ?? 16, base);
}

type Reply = { id: number; result: Uint8Array | string } | { id: number; error: { message: string; code?: ErrorCode } };

class WorkerService implements HeService {
  private worker?: Worker;
  private ready?: Promise<void>;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(value: Uint8Array | string): void; reject(e: Error): void }>();

  private constructor(
    readonly name: string,
    private readonly model: HeModel,
    private readonly maxKeySets: number,
    private readonly base: string,
  ) {}

  get params(): HePublicParams {
    return this.model.params;
  }

  static async start(name: string, model: HeModel, maxKeySets: number, base: string): Promise<WorkerService> {
    const service = new WorkerService(name, model, maxKeySets, base);
    await service.spawn();
    return service;
  }

  /** A worker that died (out of memory in SEAL, say) is replaced on the next call; its key sets are gone, and clients are told to upload them again. */
  private spawn(): Promise<void> {
    const worker = startWorker(import.meta.url, "service-worker", { model: this.model, maxKeySets: this.maxKeySets, base: this.base });
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.once("message", (m: Reply) => (m.id === -1 && "error" in m ? reject(asError(m.error)) : resolve()));
      worker.once("error", reject);
    });
    worker.on("message", (m: Reply) => {
      const waiting = this.pending.get(m.id);
      if (!waiting) return;
      this.pending.delete(m.id);
      if ("error" in m) waiting.reject(asError(m.error));
      else waiting.resolve(m.result);
    });
    worker.on("exit", (code) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.pending.values()) waiting.reject(new Error(`the encrypted-inference worker of ${this.name} exited (code ${code})`));
      this.pending.clear();
    });
    return this.ready;
  }

  private async call(op: "keys" | "infer", bytes: Uint8Array): Promise<Uint8Array | string> {
    if (!this.worker) await this.spawn();
    await this.ready;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker?.postMessage({ id, op, bytes });
    });
  }

  async registerKeys(bytes: Uint8Array): Promise<string> {
    return (await this.call("keys", bytes)) as string;
  }

  async infer(request: Uint8Array): Promise<Uint8Array> {
    return (await this.call("infer", request)) as Uint8Array;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}

function asError(e: { message: string; code?: ErrorCode }): Error {
  return e.code ? new AegisError(e.code, e.message) : new Error(e.message);
}

/** What a worker sends back for an error: an AegisError keeps its code, so the server answers it as it would in-thread. */
export function describeError(e: unknown): { message: string; code?: ErrorCode } {
  return isAegisError(e) ? { message: e.message, code: e.code } : { message: String((e as Error)?.message ?? e) };
}
