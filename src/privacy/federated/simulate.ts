/**
 * The malicious-client harness: a whole federation in one process. The training set is
 * split across clients (label-Dirichlet, partition.ts), some clients are attackers
 * (malicious.ts), and every round the server samples clients, each trains from the global
 * parameters (client.ts), and the aggregation rule combines their updates (aggregators/).
 * One classifier serves every client in turn, so a simulation of 100 clients holds one
 * model in memory. `simulationTable` runs every aggregator against every attack from the
 * same initial model and split, which is the table of the README. With `dp`, the server runs
 * DP-FedAvg (dp-fedavg-mcmahan2018.ts): clients are sampled independently with probability
 * `fraction`, and every round reports the ε per client spent so far; with secure aggregation
 * as well, each client clips its own update before masking and the server noises the sum.
 * With `buckets` as well as secure aggregation, a robust rule runs over that many secure
 * bucket sums (secagg/buckets-karimireddy2022.ts).
 */
import { createRng, type Rng } from "../../data/index.js";
import { countCorrect, OnnxClassifier } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import type { Model } from "../../onnx/ir.js";
import { gatherRows, type Tensor } from "../../tensor.js";
import { type Aggregator, aggregatorByName, type Contribution } from "./aggregators/index.js";
import { type ClientData, type ClientUpdate, type LocalTrainingOptions, localUpdate } from "./client.js";
import { DP_FEDAVG_DELTA, dpFedAvg, dpFedAvgEpsilon, requireDpCompatible } from "./dp-fedavg-mcmahan2018.js";
import { type AttackSettings, attackTrains, type FlAttack, lieZ, littleIsEnough, maliciousUpdate, poisonClientData, stampTrigger } from "./malicious.js";
import { readParameters, writeParameters } from "./parameters.js";
import { dirichletSplit } from "./partition.js";
import { type SecureAggregationOptions, secureAggregator, secureBuckets, secureDpFedAvg } from "./secagg/index.js";

export interface SimulationOptions {
  /** Clients the training set is split across (default 20). */
  clients?: number;
  /** How many of them are attackers (default 0). */
  malicious?: number;
  /** Rounds of training (default 10). */
  rounds?: number;
  /** Share of the clients sampled each round (default 1: all). */
  fraction?: number;
  /** Dirichlet α of the label split (default 1; Infinity = IID). */
  alpha?: number;
  /** f the robust rules are told to tolerate per round (default: the expected attackers in a round). */
  byzantine?: number;
  local?: LocalTrainingOptions;
  attackSettings?: AttackSettings;
  /** Aggregate under secure aggregation (Bonawitz et al. 2017): FedAvg only, unless `buckets` is given. */
  secureAggregation?: SecureAggregationOptions;
  /** Under secure aggregation: B buckets of clients, each securely summed; the robust rule runs over their means. */
  buckets?: number;
  /** Client-level DP (DP-FedAvg): FedAvg only; with secureAggregation the clients clip their own updates. */
  dp?: SimulationDp;
  seed?: number;
  signal?: AbortSignal;
}

export interface SimulationDp {
  /** S, the L2 clip of each client's update. */
  clip: number;
  /** z: the noise on the average has σ = zS/(qN). */
  noiseMultiplier: number;
  /** δ per client (default 10⁻⁵). */
  delta?: number;
}

export interface Simulation {
  readonly classifier: OnnxClassifier;
  readonly initial: Float32Array;
  readonly clients: readonly ClientData[];
  /** Client indices of the attackers. */
  readonly attackers: ReadonlySet<number>;
  readonly test: ClientData;
  readonly options: Required<Omit<SimulationOptions, "local" | "attackSettings" | "signal" | "byzantine" | "secureAggregation" | "dp" | "buckets">> &
    Pick<SimulationOptions, "local" | "attackSettings" | "signal" | "secureAggregation" | "dp" | "buckets">;
  /** f per round. */
  readonly byzantine: number;
  /** Clients per round. */
  readonly perRound: number;
}

export interface RoundMetrics {
  round: number;
  accuracy: number;
  /** Share of triggered test inputs (true class ≠ target) classified as the target. */
  backdoorSuccess: number;
  clients: number;
  attackers: number;
  /** Under DP: ε per client spent by the rounds so far, at the simulation's δ. */
  epsilon?: number;
}

export interface SimulationRun {
  aggregator: string;
  attack: FlAttack;
  accuracy: number;
  backdoorSuccess: number;
  rounds: RoundMetrics[];
}

export const SIMULATION_DEFAULTS = { clients: 20, malicious: 0, rounds: 10, fraction: 1, alpha: 1, seed: 0 } as const;

/** Splits the data and picks the attackers; the model is the initial global model (trainable graph). */
export async function prepareSimulation(model: Model, train: ClientData, test: ClientData, options: SimulationOptions = {}): Promise<Simulation> {
  const d = SIMULATION_DEFAULTS;
  const settings = {
    clients: options.clients ?? d.clients,
    malicious: options.malicious ?? d.malicious,
    rounds: options.rounds ?? d.rounds,
    fraction: options.fraction ?? d.fraction,
    alpha: options.alpha ?? d.alpha,
    seed: options.seed ?? d.seed,
    local: options.local,
    attackSettings: options.attackSettings,
    secureAggregation: options.secureAggregation,
    buckets: options.buckets,
    dp: options.dp && { ...options.dp, delta: options.dp.delta ?? DP_FEDAVG_DELTA },
    signal: options.signal,
  };
  const { clients, malicious, fraction } = settings;
  if (!Number.isInteger(malicious) || malicious < 0 || malicious >= clients) {
    throw new AegisError("BAD_OPTION", `--malicious must be an integer from 0 to ${clients - 1} (fewer than the ${clients} clients), not ${malicious}`);
  }
  if (!(fraction > 0 && fraction <= 1)) throw new AegisError("BAD_OPTION", `--fraction must be in (0, 1], not ${fraction}`);
  if (!Number.isInteger(settings.rounds) || settings.rounds < 1)
    throw new AegisError("BAD_OPTION", `--rounds must be a positive integer, not ${settings.rounds}`);
  if (settings.buckets !== undefined && !settings.secureAggregation)
    throw new AegisError("BAD_OPTION", "--buckets applies to secure aggregation: add --secure-aggregation, or run the robust rule without buckets");
  if (settings.buckets !== undefined && settings.dp)
    throw new AegisError(
      "BAD_OPTION",
      "--dp cannot be combined with --buckets: DP-FedAvg's noise is calibrated to one secure sum, and the server would see each bucket's sum before the noise",
    );
  // Refuses a bad z or δ before any training.
  if (settings.dp) dpFedAvgEpsilon({ samplingRate: fraction, noiseMultiplier: settings.dp.noiseMultiplier, rounds: settings.rounds, delta: settings.dp.delta });
  const perRound = Math.max(1, Math.round(fraction * clients));
  const byzantine = options.byzantine ?? Math.round((malicious * perRound) / clients);
  const shares = dirichletSplit(train.labels, clients, settings.alpha, settings.seed);
  const rng = createRng(settings.seed + 1);
  const attackers = new Set(rng.shuffle(Array.from({ length: clients }, (_, i) => i)).slice(0, malicious));
  const classifier = await OnnxClassifier.create(model, { trainable: true, batchSize: options.local?.batchSize ?? 32 });
  return {
    classifier,
    initial: readParameters(classifier),
    clients: shares.map((rows) => ({ x: gatherRows(train.x, rows), labels: rows.map((r) => train.labels[r]) })),
    attackers,
    test,
    options: settings,
    byzantine,
    perRound,
  };
}

/** Trains the federation from the initial model with one aggregation rule under one attack. */
export async function runSimulation(
  sim: Simulation,
  aggregator: Aggregator,
  attack: FlAttack,
  onRound?: (metrics: RoundMetrics) => void,
): Promise<SimulationRun> {
  const { rounds, seed } = sim.options;
  if (sim.perRound < aggregator.minClients(sim.byzantine)) {
    throw new AegisError(
      "BAD_OPTION",
      `${aggregator.name} needs at least ${aggregator.minClients(sim.byzantine)} clients per round to tolerate f = ${sim.byzantine}, and a round has ${sim.perRound}; use more clients, a larger --fraction or another aggregator`,
    );
  }
  const rng = createRng(seed + 2);
  let global = Float32Array.from(sim.initial);
  const history: RoundMetrics[] = [];
  for (let round = 1; round <= rounds; round++) {
    const sampled = sim.options.dp ? poissonSample(sim.clients.length, sim.options.fraction, rng) : sampleClients(sim.clients.length, sim.perRound, rng);
    const contributions = await roundContributions(sim, global, sampled, attack, round, rng);
    const step = aggregator.aggregate(contributions, { byzantine: sim.byzantine, normal: () => rng.normal() });
    global = Float32Array.from(global, (w, i) => w + step[i]);
    const metrics: RoundMetrics = {
      round,
      ...(await measure(sim, global)),
      clients: sampled.length,
      attackers: sampled.filter((k) => sim.attackers.has(k)).length,
    };
    if (sim.options.dp) metrics.epsilon = simulationEpsilon(sim, round);
    history.push(metrics);
    onRound?.(metrics);
  }
  const last = history[history.length - 1];
  return { aggregator: aggregator.name, attack, accuracy: last.accuracy, backdoorSuccess: last.backdoorSuccess, rounds: history };
}

export interface TableProgress {
  aggregator: string;
  attack: FlAttack;
  round: number;
  done: number;
  total: number;
  /** Under DP: ε per client spent so far in this run. */
  epsilon?: number;
}

/**
 * The rule `name`, under secure aggregation, DP or both when the simulation asks for it. Both
 * refuse the robust rules: secure aggregation shows the server only the sum, and DP-FedAvg's
 * noise needs a clipped sum (requireDpCompatible), whose clip bounds an attacker to S/(qN) a
 * round when the server clips; under secure aggregation the clients clip (secureDpFedAvg).
 */
export function simulationAggregator(sim: Simulation, name: string): Aggregator {
  const { secureAggregation, dp, fraction } = sim.options;
  if (dp) {
    requireDpCompatible(name);
    const settings = { clip: dp.clip, noiseMultiplier: dp.noiseMultiplier, expectedClients: fraction * sim.clients.length };
    return secureAggregation ? secureDpFedAvg(settings, secureAggregation) : dpFedAvg({ ...settings, dimension: sim.initial.length });
  }
  if (secureAggregation && sim.options.buckets !== undefined) return secureBuckets(aggregatorByName(name), sim.options.buckets, sim, secureAggregation);
  return secureAggregation ? secureAggregator(name, secureAggregation) : aggregatorByName(name);
}

/** ε per client after `rounds` rounds of the simulation's DP-FedAvg (Infinity without DP). */
export function simulationEpsilon(sim: Simulation, rounds: number): number {
  const dp = sim.options.dp;
  if (!dp) return Number.POSITIVE_INFINITY;
  return dpFedAvgEpsilon({ samplingRate: sim.options.fraction, noiseMultiplier: dp.noiseMultiplier, rounds, delta: dp.delta ?? DP_FEDAVG_DELTA }).epsilon;
}

/** Every aggregator against every attack, from the same initial model and split. */
export async function simulationTable(
  sim: Simulation,
  aggregators: readonly string[],
  attacks: readonly FlAttack[],
  onProgress?: (p: TableProgress) => void,
): Promise<SimulationRun[]> {
  const runs: SimulationRun[] = [];
  const total = aggregators.length * attacks.length * sim.options.rounds;
  for (const name of aggregators) {
    const aggregator = simulationAggregator(sim, name);
    for (const attack of attacks) {
      if (sim.attackers.size === 0 && attack !== "none") throw new AegisError("BAD_OPTION", `--attack ${attack} needs attackers; give --malicious K`);
      runs.push(
        await runSimulation(sim, aggregator, attack, (m) =>
          onProgress?.({ aggregator: name, attack, round: m.round, done: runs.length * sim.options.rounds + m.round, total, epsilon: m.epsilon }),
        ),
      );
    }
  }
  return runs;
}

async function roundContributions(
  sim: Simulation,
  global: Float32Array,
  sampled: readonly number[],
  attack: FlAttack,
  round: number,
  rng: Rng,
): Promise<Contribution[]> {
  const settings = sim.options.attackSettings ?? {};
  const local = (k: number, data: ClientData): Promise<ClientUpdate> =>
    localUpdate(sim.classifier, global, data, { ...sim.options.local, seed: sim.options.seed * 1000 + round * 100 + k, signal: sim.options.signal });
  const honest: ClientUpdate[] = [];
  const attackers: { k: number; update?: ClientUpdate }[] = [];
  for (const k of sampled) {
    const data = sim.clients[k];
    if (!sim.attackers.has(k)) honest.push(await local(k, data));
    else if (!attackTrains(attack)) attackers.push({ k });
    else attackers.push({ k, update: await local(k, attack === "backdoor" ? poisonClientData(data, settings) : data) });
  }
  const roundExamples = [...honest.map((u) => u.examples), ...attackers.map(({ k }) => sim.clients[k].labels.length)].reduce((a, b) => a + b, 0);
  const attackerExamples = attackers.reduce((sum, { k }) => sum + sim.clients[k].labels.length, 0);
  const lie =
    attack === "lie" && attackers.length > 0
      ? littleIsEnough(
          [...honest, ...attackers.map((a) => a.update as ClientUpdate)].map((u) => u.delta),
          settings.z ?? lieZ(sampled.length, attackers.length),
        )
      : undefined;
  const crafted = attackers.map(({ k, update }) => ({
    examples: sim.clients[k].labels.length,
    malicious: true,
    delta: maliciousUpdate(attack, settings, { own: update?.delta, size: global.length, lie, replacementScale: roundExamples / attackerExamples, rng }),
  }));
  return [...honest, ...crafted];
}

async function measure(sim: Simulation, global: Float32Array): Promise<{ accuracy: number; backdoorSuccess: number }> {
  writeParameters(sim.classifier, global);
  const { x, labels } = sim.test;
  const accuracy = agreement(await sim.classifier.predict(x), labels);
  const target = sim.options.attackSettings?.target ?? 0;
  const victims = labels.flatMap((label, row) => (label === target ? [] : [row]));
  const triggered = await sim.classifier.predict(stampTrigger(gatherRows(x, victims)));
  return {
    accuracy,
    backdoorSuccess: agreement(
      triggered,
      victims.map(() => target),
    ),
  };
}

function agreement(outputs: Tensor<"float32">, labels: readonly number[]): number {
  return labels.length > 0 ? countCorrect(outputs, labels) / labels.length : Number.NaN;
}

/** Each client independently with probability q, as DP-FedAvg's accounting assumes. */
function poissonSample(n: number, q: number, rng: Rng): number[] {
  return Array.from({ length: n }, (_, i) => i).filter(() => rng.next() < q);
}

/** m distinct client indices, uniformly. */
function sampleClients(n: number, m: number, rng: Rng): number[] {
  if (m >= n) return Array.from({ length: n }, (_, i) => i);
  return rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, m);
}
