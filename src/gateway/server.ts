/**
 * The HTTP server every gateway mode shares: health and readiness endpoints, JSON errors
 * that never carry a stack trace or an internal detail, and the model routes. The guard's
 * controls (auth, rate limits, detectors, audit log, metrics) are fastify plugins
 * registered on the same instance.
 */
import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import { isAegisError } from "../errors.js";
import { modelRoutes, type ServedModel } from "./model-route.js";
import { RequestError } from "./validation.js";

export interface ServerOptions {
  models: readonly ServedModel[];
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** pino log level, or false for no request log (default false). */
  logLevel?: string | false;
  /** Milliseconds before a request that has not completed is answered 503 (default 30 s). */
  requestTimeout?: number;
}

/** JSON errors for every failure; 5xx never carry the cause, which goes to the log. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof RequestError) return reply.code(error.statusCode).send({ error: { code: error.code, message: error.message } });
    if (isAegisError(error)) return reply.code(error.code === "NOT_FOUND" ? 404 : 400).send({ error: { code: error.code, message: error.message } });
    // Fastify's own client errors (body too large, bad JSON, wrong content type) carry a 4xx status.
    const status = error.statusCode ?? 500;
    if (status < 500) return reply.code(status).send({ error: { code: error.code ?? "BAD_REQUEST", message: error.message } });
    request.log.error(error);
    return reply.code(500).send({ error: { code: "INTERNAL", message: "the server failed to handle this request; see its log" } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: "NOT_FOUND", message: `no route ${request.method} ${request.url.split("?")[0]}` } }),
  );
}

export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    requestTimeout: options.requestTimeout ?? 30_000,
    logger: options.logLevel ? { level: options.logLevel, stream: process.stderr } : false,
  });

  installErrorHandlers(app);
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async () => ({ status: "ready", models: options.models.map((m) => m.name) }));
  await app.register(modelRoutes, { models: options.models });
  return app;
}
