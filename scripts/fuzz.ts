/**
 * The long fuzzing run: `npm run fuzz -- --minutes 30 [--target npy,yaml] [--seed N] [--list]`.
 * The fixed-seed pass of `npm test` (test/fuzz/) runs each target a few hundred times; this
 * runs them with fresh random seeds for as long as asked, one target after another in a
 * child process so a parser that hangs can be stopped: an input that takes longer than
 * HANG_MS is saved as a hang. Every failing input is written to fixtures/fuzz/<target>/
 * (replayed by test/fuzz/corpus.test.ts) and its seed printed; the run exits 1 if any.
 */
import { fork } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runTarget, saveToCorpus } from "../test/fuzz/harness.js";
import { allTargets } from "../test/fuzz/targets/index.js";

/** A single input running longer than this is a hang (the harness's own bound is 10 s). */
const HANG_MS = 30_000;
/** Distinct failures kept per target before moving on: later ones are usually the same bug. */
const MAX_FAILURES = 3;
/** Inputs per seed: a new seed, and so new random choices, every this many runs. */
const RUNS_PER_SEED = 200;

type FromChild =
  | { kind: "input" }
  | { kind: "seed"; seed: number; runs: number }
  | { kind: "failure"; seed: number; input: Uint8Array | null; message: string };

interface Job {
  target: string;
  milliseconds: number;
  seed?: number;
  /** Where the child writes each input before checking it, for the parent to save on a hang. */
  current: string;
}

const job = process.env.AEGIS_FUZZ_JOB;
if (job) await work(JSON.parse(job) as Job);
else await main();

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { minutes: { type: "string", default: "5" }, target: { type: "string" }, seed: { type: "string" }, list: { type: "boolean", default: false } },
  });
  if (values.list) {
    for (const t of allTargets) console.log(`${t.name.padEnd(12)} ${t.covers}`);
    return;
  }
  const names = values.target ? values.target.split(",") : allTargets.map((t) => t.name);
  const unknown = names.filter((n) => !allTargets.some((t) => t.name === n));
  if (unknown.length) throw new Error(`unknown target ${unknown.join(", ")}; npm run fuzz -- --list names them`);
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, not ${values.minutes}`);
  const slice = (minutes * 60_000) / names.length;
  console.log(`fuzzing ${names.length} target${names.length === 1 ? "" : "s"} for ${minutes} min (${(slice / 1000).toFixed(0)} s each)`);

  let failed = 0;
  for (const target of names) {
    const current = join(mkdtempSync(join(tmpdir(), "aegis-fuzz-")), "current-input");
    const result = await fuzzInChild({ target, milliseconds: slice, current, ...(values.seed ? { seed: Number(values.seed) } : {}) });
    failed += result.failures;
    console.log(`${target.padEnd(12)} ${String(result.runs).padStart(7)} inputs, ${result.failures} failure${result.failures === 1 ? "" : "s"}`);
  }
  if (failed) {
    console.log(`${failed} failing input${failed === 1 ? "" : "s"} saved under fixtures/fuzz/; fix the parser, then npm test replays them`);
    process.exitCode = 1;
  }
}

/** Runs one target for its time slice in a child process, restarting it after a hang. */
async function fuzzInChild(job: Job): Promise<{ runs: number; failures: number }> {
  const target = allTargets.find((t) => t.name === job.target)!;
  const deadline = Date.now() + job.milliseconds;
  let runs = 0;
  let failures = 0;
  while (Date.now() < deadline && failures < MAX_FAILURES) {
    const outcome = await new Promise<"done" | "hang">((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), [], {
        env: { ...process.env, AEGIS_FUZZ_JOB: JSON.stringify({ ...job, milliseconds: deadline - Date.now() }) },
        execArgv: ["--import", "tsx"],
        serialization: "advanced",
      });
      let watchdog = setTimeout(() => hang(), HANG_MS * 4); // the first input waits for the target to start
      const hang = () => {
        child.kill("SIGKILL");
        failures++;
        const saved = existsSync(job.current) ? saveToCorpus(target, new Uint8Array(readFileSync(job.current))) : "(no input yet)";
        console.log(`${job.target}: HANG, an input ran over ${HANG_MS / 1000} s; saved as ${saved}`);
        resolve("hang");
      };
      child.on("message", (m: FromChild) => {
        clearTimeout(watchdog);
        watchdog = setTimeout(hang, HANG_MS);
        if (m.kind === "seed") runs += m.runs;
        else if (m.kind === "failure") {
          failures++;
          const saved = m.input ? saveToCorpus(target, m.input) : "(no input)";
          console.log(`${job.target}: FAILURE with seed ${m.seed}, saved as ${saved}\n  ${m.message.split("\n").slice(0, 6).join("\n  ")}`);
        }
      });
      child.on("error", (e) => {
        clearTimeout(watchdog);
        reject(e);
      });
      child.on("exit", () => {
        clearTimeout(watchdog);
        resolve("done");
      });
    });
    if (outcome === "done") break;
  }
  return { runs, failures };
}

async function work(job: Job): Promise<void> {
  const send = (m: FromChild) => process.send?.(m);
  const target = allTargets.find((t) => t.name === job.target)!;
  await target.start?.();
  const check = target.check.bind(target);
  // Each input is written first, synchronously: a check stuck in a loop never lets an IPC message out.
  target.check = (input) => {
    writeFileSync(job.current, input);
    send({ kind: "input" });
    return check(input);
  };
  const deadline = Date.now() + job.milliseconds;
  let failures = 0;
  try {
    for (let round = 0; Date.now() < deadline && failures < MAX_FAILURES; round++) {
      const seed = job.seed !== undefined ? job.seed + round : Math.floor(Math.random() * 2 ** 31);
      const details = await runTarget(target, { seed, numRuns: RUNS_PER_SEED, interruptAfterMs: deadline - Date.now() });
      send({ kind: "seed", seed, runs: details.numRuns });
      if (details.failed && !details.interrupted) {
        failures++;
        const message = (details.errorInstance as Error | undefined)?.message ?? "failed";
        send({ kind: "failure", seed, input: details.counterexample?.[0] ?? null, message });
      }
    }
  } finally {
    await target.stop?.();
    process.disconnect?.();
  }
}
