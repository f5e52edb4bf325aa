/**
 * The shared query log the detectors replay (Redis from .ci/run): entries survive the 16-bit
 * quantisation to within half a step, every instance reads the others' queries in one order
 * and never its own twice, trimming keeps positions absolute, and an expired stream makes
 * the instances start afresh.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { decodeQuery, encodeQuery, type QueryLog, redisQueryLog } from "../../src/gateway/store/query-log.js";

const REDIS = process.env.AEGIS_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const stream = `test:${process.pid}`;
let redis: Redis;

before(() => {
  redis = new Redis(REDIS);
});

after(async () => {
  await redis.del(`aegis:queries:{${stream}}`, `aegis:queries:{${stream}}:count`);
  redis.disconnect();
});

const entry = (log: QueryLog, value: number) =>
  encodeQuery({ x: Float32Array.of(value, 1 - value), cls: 3, outOfDistribution: value > 0.5 }, log.instance, [0, 1]);
const values = (entries: Buffer[]) => entries.map((e) => Math.round(decodeQuery(e, [0, 1]).x[0] * 100) / 100);

test("a query survives encoding to within half a quantisation step, with its class, flag and instance", () => {
  const x = Float32Array.from({ length: 784 }, (_, i) => Math.sin(i) * 3);
  const decoded = decodeQuery(encodeQuery({ x, cls: 7, outOfDistribution: true }, 0xdeadbeef, [-3, 3]), [-3, 3]);
  assert.equal(decoded.cls, 7);
  assert.equal(decoded.outOfDistribution, true);
  assert.equal(decoded.instance, 0xdeadbeef);
  const halfStep = 6 / 65535 / 2;
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(decoded.x[i] - x[i]) <= halfStep + 1e-6, `value ${i}`);
});

test("two instances read one stream in one order; trimming keeps positions absolute; an expired stream restarts", async () => {
  const a = redisQueryLog(redis, { maxEntries: 4 });
  const b = redisQueryLog(redis, { maxEntries: 4 });
  assert.notEqual(a.instance, b.instance);

  let first = await a.append(stream, 0, [entry(a, 0.1), entry(a, 0.2)]);
  assert.deepEqual([first.from, first.restarted, values(first.entries)], [0, false, [0.1, 0.2]]);
  // b has applied nothing: it gets a's two queries, then its own.
  const second = await b.append(stream, 0, [entry(b, 0.3)]);
  assert.deepEqual([second.from, values(second.entries)], [0, [0.1, 0.2, 0.3]]);
  assert.equal(decodeQuery(second.entries[2], [0, 1]).instance, b.instance);
  // a has applied 2: it gets b's query and its own, nothing twice.
  const third = await a.append(stream, 2, [entry(a, 0.4), entry(a, 0.6)]);
  assert.deepEqual([third.from, values(third.entries)], [2, [0.3, 0.4, 0.6]]);
  assert.equal(decodeQuery(third.entries[2], [0, 1]).outOfDistribution, true);
  // Six queries, four kept: b (applied 3) still starts at absolute position 3.
  const fourth = await b.append(stream, 3, [entry(b, 0.7)]);
  assert.deepEqual([fourth.from, values(fourth.entries)], [3, [0.4, 0.6, 0.7]]);
  // A newcomer gets the last four only.
  const newcomer = await redisQueryLog(redis, { maxEntries: 4 }).append(stream, 0, []);
  assert.deepEqual([newcomer.from, values(newcomer.entries)], [2, [0.3, 0.4, 0.6, 0.7]]);
  assert.ok(Number(await redis.pttl(`aegis:queries:{${stream}}`)) > 86_000_000, "the stream expires after a day without queries");

  await redis.del(`aegis:queries:{${stream}}`, `aegis:queries:{${stream}}:count`);
  first = await a.append(stream, 5, [entry(a, 0.8)]);
  assert.deepEqual([first.from, first.restarted, values(first.entries)], [0, true, [0.8]]);
});
