/**
 * Rate limits and a concurrency cap. Fixed-window counters per API key (or principal),
 * per client IP and per tenant, from rate-limiter-flexible — in memory for one instance,
 * in Redis when several share the limits. A refused request gets 429 with Retry-After;
 * a request over the concurrency cap gets 503 so clients back off instead of queueing.
 */
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import { type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import { type LimiterFactory, memoryLimiterFactory } from "../store/index.js";

export interface RateLimitOptions {
  perKey?: { requestsPerMinute: number };
  perIp?: { requestsPerMinute: number };
  perTenant?: { requestsPerMinute: number };
  /** Most requests in flight at once across the instance. */
  concurrency?: number;
  /** Builds the limiter of one scope; in memory by default (Redis for several instances). */
  limiterFactory?: LimiterFactory;
}

type Scope = "key" | "ip" | "tenant";

const rateLimit: FastifyPluginAsync<RateLimitOptions> = async (app, options) => {
  const factory = options.limiterFactory ?? memoryLimiterFactory;
  const limiters: [Scope, RateLimiterAbstract][] = [];
  if (options.perKey) limiters.push(["key", factory("key", options.perKey.requestsPerMinute)]);
  if (options.perIp) limiters.push(["ip", factory("ip", options.perIp.requestsPerMinute)]);
  if (options.perTenant) limiters.push(["tenant", factory("tenant", options.perTenant.requestsPerMinute)]);
  let inFlight = 0;

  app.addHook("onRequest", async (request, reply) => {
    if (request.routeOptions.config.public || reply.sent) return;
    for (const [scope, limiter] of limiters) {
      const principal = request.aegis.principal;
      const key = scope === "ip" ? request.ip : scope === "tenant" ? principal?.tenant : (principal?.id ?? `ip:${request.ip}`);
      if (key === undefined) continue;
      try {
        await limiter.consume(key);
      } catch (e) {
        if (!(e instanceof RateLimiterRes)) throw e;
        request.aegis.decisions.push({ control: "rate-limit", action: "throttle", reason: `per-${scope}` });
        reply.header("retry-after", String(Math.max(1, Math.ceil(e.msBeforeNext / 1000))));
        return reply.code(429).send({ error: { code: "RATE_LIMITED", message: `too many requests per ${scope}; retry after the Retry-After seconds` } });
      }
    }
    if (options.concurrency !== undefined) {
      if (inFlight >= options.concurrency) {
        request.aegis.decisions.push({ control: "rate-limit", action: "throttle", reason: "concurrency" });
        reply.header("retry-after", "1");
        return reply.code(503).send({ error: { code: "OVERLOADED", message: `more than ${options.concurrency} requests in flight; retry shortly` } });
      }
      inFlight++;
      // "close" fires once whether the response completed or the client went away.
      reply.raw.once("close", () => inFlight--);
    }
  });
};

export const rateLimitPlugin = fp(rateLimit, { name: "aegis-rate-limit", dependencies: ["aegis-context"] });
