/**
 * The Redis a campaign lives on, from its `redis://` or `rediss://` URL. BullMQ takes
 * connection options rather than a URL, and its blocking connections must retry forever
 * (maxRetriesPerRequest null); the submitter and workers check the server answers first,
 * so a wrong URL is an error at once instead of a silent wait.
 */
import { Redis, type RedisOptions } from "ioredis";
import { AegisError } from "../errors.js";

export interface QueueTarget {
  url: string;
  /** Prefix of every key the campaign writes (BullMQ's and the blobs'), so campaigns on one Redis stay apart. */
  prefix: string;
}

export const DEFAULT_PREFIX = "aegis";

/** BullMQ's connection options for a Redis URL. */
export function connectionOptions(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AegisError("BAD_OPTION", `--queue must be a Redis URL such as redis://127.0.0.1:6379, not "${url}"`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
    throw new AegisError("BAD_OPTION", `--queue must be a redis:// or rediss:// URL, not "${url}"`);
  const db = parsed.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d+$/.test(db)) throw new AegisError("BAD_OPTION", `the database of --queue ${url} must be a number (redis://host:6379/0)`);
  return {
    host: parsed.hostname || "127.0.0.1",
    port: parsed.port ? Number(parsed.port) : 6379,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db: db === "" ? 0 : Number(db),
    tls: parsed.protocol === "rediss:" ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/** A plain client for the blobs, connected and answering, or a QUEUE_ERROR that names the URL. */
export async function openRedis(url: string): Promise<Redis> {
  const client = new Redis({ ...connectionOptions(url), maxRetriesPerRequest: 2, lazyConnect: true, connectTimeout: 5000, retryStrategy: () => null });
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    client.disconnect();
    throw new AegisError("QUEUE_ERROR", `cannot reach Redis at ${redact(url)} (${(e as Error).message}); start it, or check --queue`);
  }
  // From here on, reconnect after a blip as BullMQ does.
  client.options.retryStrategy = (times) => Math.min(times * 200, 2000);
  return client;
}

/** The URL without its password, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
