/**
 * Writes one audit entry per request and holds the response until the entry is committed
 * (onSend), so no response a client received is missing from the log. Entries hold metadata and the
 * controls' decisions — never credentials; the body is kept as a SHA-256 hash, not at all,
 * or encrypted to recipients' public keys (X25519, the format of `aegis encrypt`): the
 * guard that writes it cannot read it back, whoever holds an identity can
 * (`aegis audit-log export --identity`), and the hash chain covers the ciphertext, so it
 * verifies without any key.
 */
import { createHash } from "node:crypto";
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import { encryptBytes, type Recipient } from "../../encryption/index.js";
import type { SqliteAuditLog } from "../audit-log/sqlite.js";

export interface AuditLogOptions {
  log: Pick<SqliteAuditLog, "appendCommitted">;
  /** "hash" stores the body's SHA-256, "omit" stores nothing of it, "encrypt" the body encrypted to `recipients` (default "hash"). */
  payloads?: "hash" | "omit" | "encrypt";
  recipients?: readonly Recipient[];
  /** Larger bodies are not stored under "encrypt", only their size (default 1 MiB). */
  maxPayloadBytes?: number;
}

/** The name an entry's encrypted payload is bound to, so it decrypts only as that request's. */
export function payloadName(requestId: string): string {
  return `request-${requestId}`;
}

const auditLog: FastifyPluginAsync<AuditLogOptions> = async (app, options) => {
  const payloads = options.payloads ?? "hash";
  const recipients = options.recipients ?? [];
  if (payloads === "encrypt" && recipients.length === 0) throw new Error("encrypted audit payloads need at least one recipient");
  const maxPayloadBytes = options.maxPayloadBytes ?? 2 ** 20;
  // Callback style: nothing is awaited here, so no promise per request.
  app.addHook("preHandler", (request, _reply, done) => {
    if (payloads !== "omit" && request.body !== undefined && request.body !== null) {
      const body = request.aegis.rawBody ?? (Buffer.isBuffer(request.body) ? request.body : JSON.stringify(request.body));
      if (payloads === "hash") request.aegis.payloadHash = createHash("sha256").update(body).digest("hex");
      else {
        const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
        if (bytes.length > maxPayloadBytes) request.aegis.payloadSkipped = bytes.length;
        else request.aegis.payload = encryptBytes(bytes, recipients, payloadName(request.id)).toString("base64");
      }
    }
    done();
  });
  app.addHook("onSend", async (request, reply) => {
    if (request.routeOptions.config.public) return;
    const { principal, route, decisions, payloadHash, payload, payloadSkipped, upstreamMs } = request.aegis;
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
      payload,
      payloadSkipped,
    });
  });
};

export const auditLogPlugin = fp(auditLog, { name: "aegis-audit-log", dependencies: ["aegis-context"] });
