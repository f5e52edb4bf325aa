/**
 * Encrypted prediction over HTTP, a fastify plugin that `aegis serve --he` and the guard
 * can mount. Bodies are the binary containers of container.ts (application/vnd.aegis.he):
 *
 * - GET  /v1/he/{name}/params — the public parameters a client makes its keys with;
 * - POST /v1/he/{name}/keys   — the client's public keys, answered with their key id;
 * - POST /v1/he/{name}:infer  — an encrypted request under a registered key id, answered
 *   with the encrypted logits.
 *
 * The server holds public keys only (a secret-key container is refused by its kind) and
 * never logs a body. Key sets live in memory, the least recently used evicted beyond
 * `maxKeySets`. Inference runs on the event loop: one request at a time per process.
 */
import type { FastifyPluginAsync } from "fastify";
import { AegisError } from "../../errors.js";
import { HE_CONTENT_TYPE } from "./container.js";
import type { HeEvaluator, KeySet } from "./evaluator.js";

export interface ServedHeModel {
  name: string;
  evaluator: HeEvaluator;
  /** Roles the guard's auth admits to this model's routes (none: any authenticated client). */
  roles?: readonly string[];
}

export interface HeRouteOptions {
  models: readonly ServedHeModel[];
  /** Largest key upload in bytes (Galois keys of a CNN at N = 8192: about 35 MiB). */
  keysBodyLimit?: number;
  /** Largest encrypted request in bytes. */
  requestBodyLimit?: number;
  /** Key sets kept per model. */
  maxKeySets?: number;
}

export const heRoutes: FastifyPluginAsync<HeRouteOptions> = async (app, options) => {
  const models = new Map(options.models.map((m) => [m.name, { model: m, keys: new Map<string, KeySet>() }]));
  if (models.size !== options.models.length) throw new AegisError("BAD_OPTION", "two encrypted models share a name; rename one of the files");
  const maxKeySets = options.maxKeySets ?? 16;
  app.addContentTypeParser(HE_CONTENT_TYPE, { parseAs: "buffer" }, (_request, body, done) => done(null, body));
  app.addHook("onClose", async () => {
    for (const { keys } of models.values()) for (const k of keys.values()) k.release();
  });

  const body = (value: unknown): Buffer => {
    if (!Buffer.isBuffer(value)) throw new AegisError("BAD_DATA", `send the body as ${HE_CONTENT_TYPE}`);
    return value;
  };

  for (const { model, keys } of models.values()) {
    const { name, evaluator } = model;
    const base = `/v1/he/${encodeURIComponent(name)}`;
    // Read by the guard's plugins (auth, rate limits, audit log); inert under `aegis serve`.
    const config = { routeName: name, roles: model.roles };
    app.get(`${base}/params`, { config }, async () => evaluator.model.params);

    app.post(`${base}/keys`, { config, bodyLimit: options.keysBodyLimit ?? 64 * 2 ** 20 }, async (request) => {
      const loaded = evaluator.loadKeys(body(request.body), "the uploaded keys");
      keys.get(loaded.keyId)?.release();
      keys.delete(loaded.keyId);
      keys.set(loaded.keyId, loaded);
      for (const [id, old] of keys) {
        if (keys.size <= maxKeySets) break;
        old.release();
        keys.delete(id);
      }
      return { keyId: loaded.keyId };
    });

    app.post(`${base}::infer`, { config, bodyLimit: options.requestBodyLimit ?? 256 * 2 ** 20 }, async (request, reply) => {
      const requestBytes = body(request.body);
      const keyId = evaluator.requestKeyId(requestBytes);
      const keySet = keys.get(keyId);
      if (!keySet) throw new AegisError("NOT_FOUND", `no keys registered under the request's key id; POST them to ${base}/keys first`);
      // Most recently used last, so eviction takes the oldest.
      keys.delete(keyId);
      keys.set(keyId, keySet);
      return reply.type(HE_CONTENT_TYPE).send(evaluator.infer(requestBytes, keySet));
    });
  }
};
