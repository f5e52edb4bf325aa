/**
 * Applies open incidents to requests: a blocked client gets 403 until the block ends or
 * is resolved, a throttled one a small request budget. Runs after authentication, so a
 * client is its key (or token subject) wherever it connects from.
 */
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import { RateLimiterRes } from "rate-limiter-flexible";
import { clientId } from "../context.js";
import type { IncidentResponder } from "../incidents/responder.js";
import { type LimiterFactory, memoryLimiterFactory } from "../store/index.js";

export interface IncidentsOptions {
  responder: IncidentResponder;
  /** Requests per minute a throttled client keeps (default 10). */
  throttledRequestsPerMinute?: number;
  limiters?: LimiterFactory;
}

const incidents: FastifyPluginAsync<IncidentsOptions> = async (app, options) => {
  const throttle = (options.limiters ?? memoryLimiterFactory)("throttled", options.throttledRequestsPerMinute ?? 10);
  app.addHook("onRequest", async (request, reply) => {
    if (request.routeOptions.config.public || reply.sent) return;
    const client = clientId(request.aegis, request.ip);
    const status = options.responder.status(client);
    if (status.blocked) {
      request.aegis.decisions.push({ control: "incident", action: "block", reason: status.blocked.detector });
      const until = status.blocked.until ? ` until ${status.blocked.until}` : " until an operator resolves it";
      return reply.code(403).send({ error: { code: "BLOCKED", message: `this client is blocked${until} (incident ${status.blocked.id})` } });
    }
    if (status.throttled) {
      try {
        await throttle.consume(client);
      } catch (e) {
        if (!(e instanceof RateLimiterRes)) throw e;
        request.aegis.decisions.push({ control: "incident", action: "throttle", reason: status.throttled.detector });
        reply.header("retry-after", String(Math.max(1, Math.ceil(e.msBeforeNext / 1000))));
        return reply.code(429).send({ error: { code: "THROTTLED", message: `this client is throttled (incident ${status.throttled.id})` } });
      }
    }
  });
};

export const incidentsPlugin = fp(incidents, { name: "aegis-incidents", dependencies: ["aegis-context"] });
