/**
 * Query-stream detector state shared by several guard instances through Redis.
 *
 * PRADA's and the stateful k-NN detector's state is a deterministic function of one client's
 * query sequence, and it is large (PRADA keeps every admitted query: megabytes per client).
 * So Redis holds the sequence, not the state: one list per route and client whose entries
 * are the queries, quantised to 16 bits over the route's clipRange (2 bytes a value, a
 * worst-case error of 1/131,070 of the range per value), with the predicted class and the
 * out-of-distribution flag the receiving instance computed. An instance appends its queries
 * and, in the same atomic script, reads back every entry it has not applied yet (other
 * instances' included, its own last); replaying them in Redis's order brings its detectors
 * to the state every other instance reaches, so an attacker who spreads its queries over
 * instances is seen as one stream.
 *
 * Bounds: a list keeps the client's last `maxEntries` queries and expires after `ttlSeconds`
 * without queries. An instance that meets a client for the first time (or that forgot it)
 * replays up to maxEntries queries once. Each instance runs the detectors on every query,
 * so detector CPU grows with the number of instances.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

/** One query as the detectors see it. */
export interface ObservedQuery {
  x: Float32Array;
  /** The model's top class for it. */
  cls: number;
  /** Whether the route's out-of-distribution detector flagged it. */
  outOfDistribution: boolean;
}

export interface LoggedQuery extends ObservedQuery {
  /** The instance that received the query. */
  instance: number;
}

export interface AppendResult {
  /** Position in the client's whole stream of entries[0]. */
  from: number;
  /** The log holds fewer queries than the caller had applied: it expired; start afresh. */
  restarted: boolean;
  entries: Buffer[];
}

export interface QueryLog {
  readonly instance: number;
  /** Appends `entries` to the stream and returns the entries from position `applied` on (those trimmed away excepted). */
  append(stream: string, applied: number, entries: Buffer[]): Promise<AppendResult>;
}

export const QUERY_LOG_DEFAULTS = { maxEntries: 2000, ttlSeconds: 86_400 };

// KEYS: the list, its total count. ARGV: applied, maxEntries, ttl (ms), entries…
// The count survives trimming, so positions stay absolute.
const APPEND = `
local len = redis.call('LLEN', KEYS[1])
for i = 4, #ARGV do len = redis.call('RPUSH', KEYS[1], ARGV[i]) end
local total = redis.call('INCRBY', KEYS[2], #ARGV - 3)
local max = tonumber(ARGV[2])
if len > max then
  redis.call('LTRIM', KEYS[1], len - max, -1)
  len = max
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local first = total - len
local from = tonumber(ARGV[1])
local restarted = 0
if from > total - (#ARGV - 3) then
  restarted = 1
  from = first
end
from = math.max(from, first)
return {from, restarted, redis.call('LRANGE', KEYS[1], from - first, -1)}
`;

type AppendCommand = (list: string, count: string, applied: number, max: number, ttlMs: number, ...entries: Buffer[]) => Promise<[number, number, Buffer[]]>;

export function redisQueryLog(redis: Redis, options: Partial<typeof QUERY_LOG_DEFAULTS> = {}): QueryLog {
  const { maxEntries, ttlSeconds } = { ...QUERY_LOG_DEFAULTS, ...options };
  redis.defineCommand("aegisQueryLogAppend", { numberOfKeys: 2, lua: APPEND });
  const command = (redis as unknown as { aegisQueryLogAppendBuffer: AppendCommand }).aegisQueryLogAppendBuffer.bind(redis);
  return {
    instance: randomBytes(4).readUInt32LE(0),
    async append(stream, applied, entries) {
      // The braces make both keys hash to one slot, as Redis Cluster needs for a script.
      const key = `aegis:queries:{${stream}}`;
      const [from, restarted, logged] = await command(key, `${key}:count`, applied, maxEntries, ttlSeconds * 1000, ...entries);
      return { from: Number(from), restarted: Number(restarted) === 1, entries: logged };
    },
  };
}

const HEADER = 9;

/** Entry layout: instance (u32), class (u32), flags (u8: 1 = out of distribution), then the values as u16 over [low, high]. */
export function encodeQuery(query: ObservedQuery, instance: number, [low, high]: readonly [number, number]): Buffer {
  const out = Buffer.allocUnsafe(HEADER + 2 * query.x.length);
  out.writeUInt32LE(instance >>> 0, 0);
  out.writeUInt32LE(query.cls, 4);
  out.writeUInt8(query.outOfDistribution ? 1 : 0, 8);
  const scale = 65535 / (high - low);
  for (let i = 0; i < query.x.length; i++) {
    const q = Math.round((query.x[i] - low) * scale);
    out.writeUInt16LE(Math.min(Math.max(q, 0), 65535), HEADER + 2 * i);
  }
  return out;
}

export function decodeQuery(entry: Buffer, [low, high]: readonly [number, number]): LoggedQuery {
  const n = (entry.length - HEADER) / 2;
  const x = new Float32Array(n);
  const step = (high - low) / 65535;
  for (let i = 0; i < n; i++) x[i] = low + entry.readUInt16LE(HEADER + 2 * i) * step;
  return { instance: entry.readUInt32LE(0), cls: entry.readUInt32LE(4), outOfDistribution: (entry.readUInt8(8) & 1) === 1, x };
}
