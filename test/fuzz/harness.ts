/**
 * The hostile-input harness: every parser that takes a user's files or bytes is a
 * FuzzTarget, fed mutants of valid seeds (bit flips, truncations, splices, length fields
 * set to huge or negative values, deep nesting, repeated tokens) and structured inputs.
 * The property is the same for all: an input succeeds, or fails the documented way (an
 * AegisError, a documented HTTP status with a JSON error), within a time bound, with a
 * message free of internals. `npm test` runs each target with a fixed seed and a bounded
 * number of runs; `npm run fuzz` runs them with random seeds for minutes and saves what fails
 * into fixtures/fuzz/<target>/, which the corpus test replays every run.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { AegisError } from "../../src/errors.js";

export const CORPUS = new URL("../../fixtures/fuzz/", import.meta.url).pathname;
export const FIXTURES = new URL("../../fixtures/", import.meta.url).pathname;

export interface FuzzTarget {
  /** Also the corpus folder: fixtures/fuzz/<name>/. */
  name: string;
  /** What the target covers, printed by `npm run fuzz -- --list`. */
  covers: string;
  /** File extension of saved inputs, so they open in the right tool. */
  extension: string;
  /** Runs of the fixed-seed pass inside `npm test`, sized to the target's cost. */
  runs: number;
  inputs(): fc.Arbitrary<Uint8Array>;
  /** Resolves when the input meets the property; throws an assertion error naming what broke. */
  check(input: Uint8Array): Promise<void>;
  /** For targets that need a server. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

/** A call that takes longer than this on a small input (all stay under 1 MB) is a hang; generous, so a loaded CI machine never trips it. */
export const TIME_LIMIT_MS = 10_000;

/** Text that must never reach a user: stack frames, engine error names, our source paths. */
const INTERNALS =
  /Maximum call stack|RangeError|TypeError|ReferenceError|\bundefined\b|Cannot read propert|\n\s+at |\(?\/[\w./-]*(src|node_modules)\/[\w./-]+:\d+|\bnode:internal\b/;

export function assertNoInternals(message: string, where: string): void {
  assert.doesNotMatch(message, INTERNALS, `${where} carries internal text: ${message.slice(0, 400)}`);
}

/** Awaits `run` (sync or async) within TIME_LIMIT_MS: an async hang times out, a slow sync call fails on its measured time. */
export async function withinTimeLimit<T>(what: string, run: () => T | Promise<T>): Promise<T> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: `${what} did not finish within ${TIME_LIMIT_MS} ms` })), TIME_LIMIT_MS);
  });
  try {
    const result = await Promise.race([Promise.resolve().then(run), timeout]);
    const took = performance.now() - started;
    assert.ok(took <= TIME_LIMIT_MS, `${what} took ${Math.round(took)} ms, over the ${TIME_LIMIT_MS} ms bound`);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The library-level property: `run` returns, or throws an AegisError whose sentence holds
 * no internals. `codes` lists the error codes this parser may use.
 */
export async function expectAegisOutcome<T>(what: string, run: () => T | Promise<T>, codes?: readonly string[]): Promise<T | AegisError> {
  try {
    return await withinTimeLimit(what, run);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof AegisError, `${what} threw ${(e as Error)?.stack ?? String(e)}, not an AegisError`);
    if (codes) assert.ok(codes.includes(e.code), `${what} threw ${e.code} (${e.message}); expected one of ${codes.join(", ")}`);
    assertNoInternals(e.message, what);
    return e;
  }
}

// ---------------------------------------------------------------- seeds and corpus

export function readFixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, path)));
}

/** Every file of a fixtures folder whose name matches. */
export function readFixtures(folder: string, match: RegExp = /./): Uint8Array[] {
  return readdirSync(join(FIXTURES, folder))
    .filter((f) => match.test(f))
    .sort()
    .map((f) => readFixture(join(folder, f)));
}

/** Saved inputs of a target: the crashes found so far, replayed every run. */
export function corpusOf(target: string): { file: string; bytes: Uint8Array }[] {
  const dir = join(CORPUS, target);
  let files: string[];
  try {
    files = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return files.map((file) => ({ file, bytes: new Uint8Array(readFileSync(join(dir, file))) }));
}

/** Writes a failing input to the corpus under its hash; returns the path. */
export function saveToCorpus(target: FuzzTarget, input: Uint8Array): string {
  const dir = join(CORPUS, target.name);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${createHash("sha256").update(input).digest("hex").slice(0, 12)}.${target.extension}`);
  writeFileSync(path, input);
  return path;
}

// ---------------------------------------------------------------- mutations

const enc = new TextEncoder();

/** Values that break length and count fields: zero, sign bits, all ones, 2^53 and 2^63. */
const INTERESTING = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "truncate"; at: number }
  | { kind: "delete"; at: number; length: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "repeat"; at: number; length: number; times: number }
  | { kind: "splice"; at: number; from: number; fromAt: number; length: number }
  | { kind: "field"; at: number; width: 1 | 2 | 4 | 8; value: bigint; bigEndian: boolean }
  | { kind: "token"; at: number; token: number; times: number };

function mutation(tokens: readonly string[]): fc.Arbitrary<Mutation> {
  const at = fc.nat();
  return fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at, bit: fc.nat(7) }),
    fc.record({ kind: fc.constant("set" as const), at, value: fc.nat(255) }),
    fc.record({ kind: fc.constant("truncate" as const), at }),
    fc.record({ kind: fc.constant("delete" as const), at, length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant("insert" as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
    fc.record({ kind: fc.constant("repeat" as const), at, length: fc.integer({ min: 1, max: 16 }), times: fc.integer({ min: 2, max: 2000 }) }),
    fc.record({ kind: fc.constant("splice" as const), at, from: fc.nat(), fromAt: fc.nat(), length: fc.integer({ min: 1, max: 256 }) }),
    fc.record({
      kind: fc.constant("field" as const),
      at,
      width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
      value: fc.oneof(fc.constantFrom(...INTERESTING), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
      bigEndian: fc.boolean(),
    }),
    ...(tokens.length
      ? [
          fc.record({
            kind: fc.constant("token" as const),
            at,
            token: fc.nat(tokens.length - 1),
            times: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 5000 })),
          }),
        ]
      : []),
  );
}

function apply(input: Uint8Array, m: Mutation, seeds: readonly Uint8Array[], tokens: readonly Uint8Array[]): Uint8Array {
  const n = input.length;
  const at = n === 0 ? 0 : m.at % (n + 1);
  const join = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  switch (m.kind) {
    case "flip":
    case "set": {
      if (n === 0) return input;
      const out = input.slice();
      const i = m.at % n;
      out[i] = m.kind === "flip" ? out[i] ^ (1 << m.bit) : m.value;
      return out;
    }
    case "truncate":
      return input.slice(0, at);
    case "delete":
      return join(input.subarray(0, at), input.subarray(at + m.length));
    case "insert":
      return join(input.subarray(0, at), m.bytes, input.subarray(at));
    case "repeat": {
      const chunk = input.subarray(at, at + m.length);
      return join(
        input.subarray(0, at),
        ...Array.from({ length: Math.min(m.times, Math.floor(256_000 / Math.max(1, chunk.length))) }, () => chunk),
        input.subarray(at),
      );
    }
    case "splice": {
      const donor = seeds[m.from % seeds.length];
      const start = donor.length === 0 ? 0 : m.fromAt % donor.length;
      return join(input.subarray(0, at), donor.subarray(start, start + m.length), input.subarray(at + m.length));
    }
    case "field": {
      if (n < m.width) return input;
      const out = input.slice();
      const i = m.at % (n - m.width + 1);
      const value = m.value & ((1n << BigInt(8 * m.width)) - 1n);
      for (let b = 0; b < m.width; b++) out[m.bigEndian ? i + m.width - 1 - b : i + b] = Number((value >> BigInt(8 * b)) & 0xffn);
      return out;
    }
    case "token": {
      const token = tokens[m.token];
      return join(input.subarray(0, at), ...Array.from({ length: m.times }, () => token), input.subarray(at));
    }
  }
}

/**
 * Mutants of the seeds: one to four mutations of one seed. `tokens` are the format's own
 * syntax ("[", "&a ", "PK\x03\x04"…) for insertions and deep nesting.
 */
export function mutants(seeds: readonly Uint8Array[], tokens: readonly string[] = []): fc.Arbitrary<Uint8Array> {
  assert.ok(seeds.length > 0, "a mutation target needs seeds");
  const tokenBytes = tokens.map((t) => enc.encode(t));
  return fc
    .record({ seed: fc.nat(seeds.length - 1), mutations: fc.array(mutation(tokens), { minLength: 1, maxLength: 4 }) })
    .map(({ seed, mutations }) => mutations.reduce((bytes, m) => apply(bytes, m, seeds, tokenBytes), seeds[seed]));
}

/** Mutants most of the time, the seeds themselves and structured inputs the rest. */
export function inputsOf(seeds: readonly Uint8Array[], tokens: readonly string[], structured?: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 6, arbitrary: mutants(seeds, tokens) },
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
    ...(structured
      ? [
          { weight: 3, arbitrary: structured },
          { weight: 2, arbitrary: structured.chain((s) => mutants([s], tokens)) },
        ]
      : []),
  );
}

// ---------------------------------------------------------------- running

export interface RunOptions {
  seed: number;
  numRuns: number;
  /** Stops a long run early. */
  interruptAfterMs?: number;
}

/** Runs a target; returns fast-check's details (counterexample and seed on failure). */
export async function runTarget(target: FuzzTarget, options: RunOptions) {
  return fc.check(
    fc.asyncProperty(target.inputs(), (input) => target.check(input)),
    { seed: options.seed, numRuns: options.numRuns, endOnFailure: true, interruptAfterTimeLimit: options.interruptAfterMs },
  );
}

/** The fixed-seed assertion `npm test` makes for one target. */
export async function assertTarget(target: FuzzTarget, seed = 24): Promise<void> {
  const details = await runTarget(target, { seed, numRuns: target.runs });
  if (details.failed) {
    const input = details.counterexample?.[0];
    // AEGIS_FUZZ_SAVE=1 keeps the failing input for the corpus.
    const saved = input && process.env.AEGIS_FUZZ_SAVE ? `, saved as ${saveToCorpus(target, input)}` : "";
    const hint = input ? ` (input of ${input.length} bytes${saved}: ${Buffer.from(input.subarray(0, 120)).toString("hex")}…)` : "";
    assert.fail(`${target.name}: seed ${seed}, run ${details.numRuns}${hint}: ${(details.errorInstance as Error)?.message ?? "interrupted"}`);
  }
  assert.equal(details.numRuns, target.runs, `${target.name} ran ${details.numRuns} of ${target.runs} inputs`);
}

export const text = (s: string) => enc.encode(s);
export const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);
