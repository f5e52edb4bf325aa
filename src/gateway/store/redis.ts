/**
 * Shared rate limits for several guard instances: rate-limiter-flexible's Redis limiter
 * (an atomic Lua script per consume), so a key's budget is one budget whichever instance
 * its requests reach.
 */
import { Redis } from "ioredis";
import { type RateLimiterAbstract, RateLimiterRedis } from "rate-limiter-flexible";

export function connectRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
}

export function redisLimiterFactory(client: Redis): (scope: string, points: number, duration?: number) => RateLimiterAbstract {
  return (scope, points, duration = 60) => new RateLimiterRedis({ storeClient: client, keyPrefix: `aegis:rl:${scope}`, points, duration });
}
