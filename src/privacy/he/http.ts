/**
 * Encrypted prediction over HTTP, a fastify plugin that `aegis serve --he` and the guard
 * mount. Bodies are the binary containers of container.ts (application/vnd.aegis.he):
 *
 * - GET  /v1/he/{name}/params — the public parameters a client makes its keys with;
 * - POST /v1/he/{name}/keys   — the client's public keys, answered with their key id;
 * - POST /v1/he/{name}:infer  — an encrypted request under a registered key id, answered
 *   with the encrypted logits.
 *
 * The server holds public keys only (a secret-key container is refused by its kind) and
 * never logs a body. Each model's keys and inference live in its HE service (service.ts):
 * a worker thread, so the event loop stays free while a request computes.
 */
import type { FastifyPluginAsync } from "fastify";
import { AegisError } from "../../errors.js";
import { HE_CONTENT_TYPE } from "./container.js";
import type { HeService } from "./service.js";

export interface ServedHeModel {
  service: HeService;
  /** Roles the guard's auth admits to this model's routes (none: any authenticated client). */
  roles?: readonly string[];
}

export interface HeRouteOptions {
  models: readonly ServedHeModel[];
  /** Largest key upload in bytes (Galois keys of a CNN at N = 8192: about 35 MiB). */
  keysBodyLimit?: number;
  /** Largest encrypted request in bytes. */
  requestBodyLimit?: number;
}

export const heRoutes: FastifyPluginAsync<HeRouteOptions> = async (app, options) => {
  if (new Set(options.models.map((m) => m.service.name)).size !== options.models.length)
    throw new AegisError("BAD_OPTION", "two encrypted models share a name; rename one of the files");
  app.addContentTypeParser(HE_CONTENT_TYPE, { parseAs: "buffer" }, (_request, body, done) => done(null, body));
  app.addHook("onClose", async () => {
    await Promise.all(options.models.map((m) => m.service.close()));
  });

  const body = (value: unknown): Buffer => {
    if (!Buffer.isBuffer(value)) throw new AegisError("BAD_DATA", `send the body as ${HE_CONTENT_TYPE}`);
    return value;
  };

  for (const { service, roles } of options.models) {
    const base = `/v1/he/${encodeURIComponent(service.name)}`;
    // Read by the guard's plugins (auth, rate limits, audit log); inert under `aegis serve`.
    const config = { routeName: service.name, roles };
    app.get(`${base}/params`, { config }, async () => service.params);
    app.post(`${base}/keys`, { config, bodyLimit: options.keysBodyLimit ?? 64 * 2 ** 20 }, async (request) => ({
      keyId: await service.registerKeys(body(request.body)),
    }));
    app.post(`${base}::infer`, { config, bodyLimit: options.requestBodyLimit ?? 256 * 2 ** 20 }, async (request, reply) =>
      reply.type(HE_CONTENT_TYPE).send(Buffer.from(await service.infer(body(request.body)))),
    );
  }
};
