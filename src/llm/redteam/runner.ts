/**
 * The red-team run (garak's harness, reduced to what a CLI run needs): every selected
 * probe writes its attempts, every selected transform (plus the untransformed original)
 * re-encodes their payload turn, the target answers each user turn in order — so
 * multi-turn probes see their own replies — and the probe's detectors judge every reply.
 * An attempt succeeds when any of its detectors hits on any reply. Attempts run with a
 * bounded concurrency, here or on a campaign's workers (`executor`: each attempt travels as
 * plain data, `PlannedAttempt`, and `runPlannedAttempt` runs it there); the run stops cleanly
 * on an AbortSignal and returns what finished.
 */
import { createRng } from "../../data/random.js";
import { AegisError } from "../../errors.js";
import { DETECTORS } from "./detectors/index.js";
import { DEFAULT_SYSTEM_PROMPT, PROBES } from "./probes/index.js";
import { TRANSFORMS } from "./transforms/index.js";
import type { AttemptPlan, AttemptResult, ChatMessage, ChatTarget, Detector, DetectorVerdict, Probe, ProbeContext, Transform } from "./types.js";

/** The name under which untransformed attempts are reported. */
export const NO_TRANSFORM = "none";

export interface RedTeamOptions {
  target: ChatTarget;
  /** Probe names or families ("jailbreak" selects every "jailbreak.*"); default: all. */
  probes?: readonly string[];
  /** Transform names applied on top of the untransformed attempts; default: none. */
  transforms?: readonly string[];
  /** The application's system prompt; default: Aegis's bank-assistant prompt. */
  systemPrompt?: string;
  /** Attempts kept per probe and transform (default 10). */
  maxAttempts?: number;
  /** Attempts in flight at once (default 2). */
  concurrency?: number;
  /** Seed of the canary tokens (default 1). */
  seed?: number;
  /** An LLM judge consulted on the jailbreak probes (see detectors/judge.ts). */
  judge?: Detector;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, result: AttemptResult) => void;
  /** Runs the attempts elsewhere (campaigns/: on `aegis worker` processes) instead of against `target` here. */
  executor?: AttemptExecutor;
}

/** One attempt as data: what a worker needs to run it (its probe and transform by name, the plan already transformed). */
export interface PlannedAttempt {
  probe: string;
  transform?: string;
  plan: AttemptPlan;
}

/**
 * Runs planned attempts elsewhere and hands each result back (with its index) as it finishes;
 * resolves once all have, or the signal stopped them.
 */
export type AttemptExecutor = (
  attempts: readonly PlannedAttempt[],
  context: { signal?: AbortSignal; onResult: (index: number, result: AttemptResult) => void },
) => Promise<void>;

export interface RedTeamRun {
  results: AttemptResult[];
  probes: Probe[];
  transforms: string[];
  interrupted: boolean;
  systemPrompt: string;
  userSystemPrompt: boolean;
}

/** Resolves names and family prefixes against a registry, failing with the list of known names. */
export function selectPlugins<T extends { name: string }>(registry: readonly T[], names: readonly string[], kind: string, flag: string): T[] {
  const chosen: T[] = [];
  for (const raw of names) {
    const name = raw.trim();
    if (!name) continue;
    const matches = registry.filter((p) => p.name === name || p.name.startsWith(`${name}.`));
    if (matches.length === 0) {
      throw new AegisError("BAD_OPTION", `${flag}: unknown ${kind} "${name}"; known: ${registry.map((p) => p.name).join(", ")} (see aegis redteam --list)`);
    }
    for (const m of matches) if (!chosen.includes(m)) chosen.push(m);
  }
  return chosen;
}

function canaryFactory(seed: number): (prefix: string) => string {
  const rng = createRng(seed);
  return (prefix) => {
    let hex = "";
    for (let i = 0; i < 10; i++) hex += Math.floor(rng.next() * 16).toString(16);
    return `${prefix}-${hex}`;
  };
}

interface Job {
  probe: Probe;
  transform?: Transform;
  plan: AttemptPlan;
}

/** The detectors by name, the judge among them when there is one. */
function detectorsWith(judge: Detector | undefined): Map<string, Detector> {
  const detectors = new Map<string, Detector>(DETECTORS.map((d) => [d.name, d]));
  if (judge) detectors.set("judge", judge);
  return detectors;
}

/** Runs one planned attempt against `target` (a campaign worker's side of `executor`). */
export async function runPlannedAttempt(attempt: PlannedAttempt, target: ChatTarget, signal?: AbortSignal): Promise<AttemptResult> {
  const probe = PROBES.find((p) => p.name === attempt.probe);
  if (!probe) throw new AegisError("BAD_OPTION", `this Aegis has no red-team probe "${attempt.probe}"; run the same Aegis version everywhere`);
  const transform = attempt.transform === undefined ? undefined : TRANSFORMS.find((t) => t.name === attempt.transform);
  if (attempt.transform !== undefined && !transform)
    throw new AegisError("BAD_OPTION", `this Aegis has no red-team transform "${attempt.transform}"; run the same Aegis version everywhere`);
  const result = await runAttempt({ probe, transform, plan: attempt.plan }, { target, signal }, detectorsWith(undefined));
  delete result.cause;
  return result;
}

function transformPlan(plan: AttemptPlan, transform: Transform): AttemptPlan {
  const turn = plan.payloadTurn!;
  const turns = plan.turns.slice();
  turns[turn] = transform.apply(turns[turn], plan.expect.canaries ?? []);
  return { ...plan, turns };
}

export async function runRedTeam(options: RedTeamOptions): Promise<RedTeamRun> {
  const probes = options.probes ? selectPlugins(PROBES, options.probes, "probe", "--probes") : [...PROBES];
  const transforms = options.transforms ? selectPlugins(TRANSFORMS, options.transforms, "transform", "--transforms") : [];
  const maxAttempts = options.maxAttempts ?? 10;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new AegisError("BAD_OPTION", `--max-attempts must be an integer ≥ 1, not ${maxAttempts}`);
  if (options.executor && options.judge) throw new AegisError("BAD_OPTION", "the LLM judge runs only here: drop --judge-url, or run without --queue");
  const detectors = detectorsWith(options.judge);

  const userSystemPrompt = options.systemPrompt !== undefined && options.systemPrompt.trim() !== "";
  const systemPrompt = userSystemPrompt ? options.systemPrompt!.trim() : DEFAULT_SYSTEM_PROMPT;
  const ctx: ProbeContext = { systemPrompt, userSystemPrompt, canary: canaryFactory(options.seed ?? 1) };

  const jobs: Job[] = [];
  for (const probe of probes) {
    const plans = probe.attempts(ctx);
    for (const plan of plans.slice(0, maxAttempts)) jobs.push({ probe, plan });
    for (const transform of transforms) {
      const transformable = plans.filter((p) => p.payloadTurn !== undefined).slice(0, maxAttempts);
      for (const plan of transformable) jobs.push({ probe, transform, plan: transformPlan(plan, transform) });
    }
  }

  const results: AttemptResult[] = new Array(jobs.length);
  const finish = (): RedTeamRun => ({
    results: results.filter((r) => r !== undefined),
    probes,
    transforms: [NO_TRANSFORM, ...transforms.map((t) => t.name)],
    interrupted: options.signal?.aborted === true,
    systemPrompt,
    userSystemPrompt,
  });
  if (options.executor) {
    let done = 0;
    await options.executor(
      jobs.map((j) => ({ probe: j.probe.name, ...(j.transform ? { transform: j.transform.name } : {}), plan: j.plan })),
      {
        signal: options.signal,
        onResult: (index, result) => {
          results[index] = result;
          options.onProgress?.(++done, jobs.length, result);
        },
      },
    );
    const answered = results.filter((r) => r !== undefined && r.error === undefined).length;
    const failed = results.find((r) => r !== undefined && r.error !== undefined);
    if (answered === 0 && failed && !options.signal?.aborted) throw new AegisError("TARGET_ERROR", `no attempt got an answer on the workers: ${failed.error}`);
    return finish();
  }
  let next = 0;
  let done = 0;
  let answered = 0;
  let firstError: unknown;
  const stopEarly = new AbortController();
  const worker = async (): Promise<void> => {
    while (next < jobs.length && !options.signal?.aborted && !stopEarly.signal.aborted) {
      const index = next++;
      const job = jobs[index];
      const result = await runAttempt(job, options, detectors);
      if (result.error === undefined) answered++;
      else {
        firstError ??= result.cause;
        // A target that has not answered once is down or misconfigured: stop, don't spend every retry on every attempt.
        // A 400/413/422 rejects this one request (e.g. tool messages on a server without tool support), not the target.
        if (answered === 0 && result.cause instanceof AegisError && result.cause.code === "TARGET_ERROR" && !rejectsOnlyThisRequest(result.cause))
          stopEarly.abort();
      }
      if (result.cause instanceof AegisError && result.cause.code === "INTERRUPTED") continue;
      delete result.cause;
      results[index] = result;
      done++;
      options.onProgress?.(done, jobs.length, result);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 2) }, worker));
  if (answered === 0 && firstError !== undefined && !options.signal?.aborted) throw firstError;
  return finish();
}

function rejectsOnlyThisRequest(error: AegisError): boolean {
  const status = (error.cause as { status?: unknown } | undefined)?.status;
  return status === 400 || status === 413 || status === 422;
}

async function runAttempt(
  job: Job,
  options: Pick<RedTeamOptions, "target" | "signal" | "judge">,
  detectors: Map<string, Detector>,
): Promise<AttemptResult & { cause?: unknown }> {
  const { probe, plan, transform } = job;
  const transcript: ChatMessage[] = plan.setup.map((m) => ({ ...m }));
  const base = { probe: probe.name, transform: transform?.name ?? NO_TRANSFORM, attemptId: plan.id, goal: plan.goal };
  const names = [...plan.detectors];
  if (options.judge && probe.tags.includes("jailbreak") && !names.includes("judge")) names.push("judge");
  let verdicts: DetectorVerdict[] = [];
  // A probe whose setup already ends in a tool result asks for one reply without a new user turn.
  const turns: (string | undefined)[] = plan.turns.length > 0 ? plan.turns : [undefined];
  try {
    for (let t = 0; t < turns.length; t++) {
      const turn = turns[t];
      if (turn !== undefined) transcript.push({ role: "user", content: turn });
      const reply = await options.target.chat(transcript, { signal: options.signal });
      transcript.push({ role: "assistant", content: reply.text });
      verdicts = [];
      for (const name of names) {
        const detector = detectors.get(name);
        if (!detector) throw new Error(`probe ${probe.name} names an unknown detector "${name}"`);
        verdicts.push(await detector.detect(reply.text, { expect: plan.expect, goal: plan.goal, finishReason: reply.finishReason }));
      }
      if (verdicts.some((v) => v.hit)) return { ...base, success: true, verdicts, successTurn: t, transcript };
    }
    return { ...base, success: false, verdicts, transcript };
  } catch (error) {
    if (!(error instanceof AegisError)) throw error;
    return { ...base, success: false, verdicts, transcript, error: error.message, cause: error };
  }
}
