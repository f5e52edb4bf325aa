/**
 * Writes one audit entry per request and holds the response until the entry is committed
 * (onSend), so no response a client received is missing from the log. Entries hold metadata and the
 * controls' decisions — never credentials; the body is kept only as a SHA-256 hash, or
 * not at all.
 */
import { createHash } from "node:crypto";
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import type { SqliteAuditLog } from "../audit-log/sqlite.js";

export interface AuditLogOptions {
  log: Pick<SqliteAuditLog, "appendCommitted">;
  /** "hash" stores the body's SHA-256, "omit" stores nothing of it (default "hash"). */
  payloads?: "hash" | "omit";
}

const auditLog: FastifyPluginAsync<AuditLogOptions> = async (app, options) => {
  const payloads = options.payloads ?? "hash";
  // Callback style: nothing is awaited here, so no promise per request.
  app.addHook("preHandler", (request, _reply, done) => {
    if (payloads === "hash" && request.body !== undefined && request.body !== null) {
      const bytes = request.aegis.rawBody ?? (Buffer.isBuffer(request.body) ? request.body : JSON.stringify(request.body));
      request.aegis.payloadHash = createHash("sha256").update(bytes).digest("hex");
    }
    done();
  });
  app.addHook("onSend", async (request, reply) => {
    if (request.routeOptions.config.public) return;
    const { principal, route, decisions, payloadHash, upstreamMs } = request.aegis;
    await options.log.appendCommitted({
      requestId: request.id,
      method: request.method,
      path: request.url.split("?")[0],
      route,
      status: reply.statusCode,
      client: principal?.id ?? null,
      tenant: principal?.tenant,
      ip: request.ip,
      latencyMs: Math.round(reply.elapsedTime * 1000) / 1000,
      upstreamMs,
      decisions,
      payloadHash,
    });
  });
};

export const auditLogPlugin = fp(auditLog, { name: "aegis-audit-log", dependencies: ["aegis-context"] });
