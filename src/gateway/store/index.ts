/**
 * Where a guard keeps what outlives a request. One instance: SQLite (audit log and
 * incidents in one file) and memory (rate limits, detector state). Several instances:
 * PostgreSQL for the audit log and incidents, Redis for the rate limits and the query
 * streams the detectors replay, so a key blocked or throttled on one instance is blocked or
 * throttled on all, and a client is one stream to the detectors whichever instance it hits.
 */
import type pg from "pg";
import { type RateLimiterAbstract, RateLimiterMemory } from "rate-limiter-flexible";
import { SqliteAuditLog } from "../audit-log/sqlite.js";
import type { IncidentStoreLike } from "../incidents/responder.js";
import { IncidentStore } from "../incidents/store.js";
import { connectPostgres, PgAuditLog, PgIncidentStore } from "./postgres.js";
import { type QueryLog, redisQueryLog } from "./query-log.js";
import { connectRedis, redisLimiterFactory } from "./redis.js";

export type LimiterFactory = (scope: string, points: number, durationSeconds?: number) => RateLimiterAbstract;

export const memoryLimiterFactory: LimiterFactory = (scope, points, duration = 60) =>
  new RateLimiterMemory({ keyPrefix: `aegis:rl:${scope}`, points, duration });

export interface Stores {
  /** What identifies these stores in a config: a reload that keeps it keeps the connections. */
  key: string;
  auditLog: SqliteAuditLog | PgAuditLog;
  incidents: IncidentStoreLike;
  limiters: LimiterFactory;
  /** Present with Redis: the detectors' shared query streams. */
  queryLog?: QueryLog;
  close(): Promise<void>;
}

/** What of a guard's config chooses its stores (a `GuardConfig` is one; the stores sit below the config, which reads their defaults). */
export interface StoresConfig {
  auditLog: { path: string };
  store: { redis?: string; postgres?: string; queryHistory: number };
}

export function storesKey(config: StoresConfig): string {
  return JSON.stringify([config.auditLog.path, config.store]);
}

export async function openStores(config: StoresConfig): Promise<Stores> {
  const key = storesKey(config);
  let pool: pg.Pool | undefined;
  let auditLog: SqliteAuditLog | PgAuditLog;
  let incidents: IncidentStoreLike & { close?(): void };
  if (config.store.postgres) {
    pool = await connectPostgres(config.store.postgres);
    auditLog = new PgAuditLog(pool);
    incidents = new PgIncidentStore(pool);
  } else {
    auditLog = new SqliteAuditLog(config.auditLog.path);
    incidents = new IncidentStore(config.auditLog.path);
  }
  const redis = config.store.redis ? connectRedis(config.store.redis) : undefined;
  return {
    key,
    auditLog,
    incidents,
    limiters: redis ? redisLimiterFactory(redis) : memoryLimiterFactory,
    queryLog: redis ? redisQueryLog(redis, { maxEntries: config.store.queryHistory }) : undefined,
    async close() {
      if (auditLog instanceof SqliteAuditLog) auditLog.close();
      incidents.close?.();
      await pool?.end();
      redis?.disconnect();
    },
  };
}
