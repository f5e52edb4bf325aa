/**
 * Runs the configured query-stream detectors on every instance a client sends to a
 * route, one detector per client (the least recently seen clients are forgotten past a
 * bound), and hands alarms to incident response. With a shared query log (Redis), every
 * guard instance replays the client's whole stream, so the detectors see one client
 * whichever instances its requests reach.
 */
import type { FastifyBaseLogger, FastifyRequest } from "fastify";
import type { Detector, Postprocessor } from "../defenses/index.js";
import type { Tensor } from "../tensor.js";
import { clientId } from "./context.js";
import { createOodRateDetector, type OodRateOptions } from "./detectors/ood-rate.js";
import { createPradaDetector, type PradaOptions } from "./detectors/prada.js";
import { createStatefulKnnDetector, type StatefulKnnOptions } from "./detectors/stateful-knn.js";
import type { IncidentResponder, IncidentRule } from "./incidents/responder.js";
import type { PredictionHook } from "./model-route.js";
import { decodeQuery, encodeQuery, type ObservedQuery, type QueryLog } from "./store/query-log.js";
import { RequestError } from "./validation.js";

export interface DetectorsConfig {
  prada?: Partial<PradaOptions>;
  statefulKnn?: Partial<StatefulKnnOptions> & { threshold: number };
  /** An `aegis detect fit` file (feature squeezing, Mahalanobis, or STRIP for backdoor triggers) for this route's model; `reject` refuses flagged inputs with 400. */
  adversarial?: { file: string; reject: boolean };
  /** An `aegis detect fit --detector knn-ood` file for this route's model (upstream routes: one fitted with `--layer input`), whose per-query flags a per-client CUSUM turns into an extraction alarm ("ood-rate"); p0 defaults to the file's false-positive rate. */
  ood?: { file: string } & Partial<OodRateOptions>;
}

export interface ClientDetector {
  name: string;
  observe(query: ObservedQuery): { alarm: boolean; detail: string };
}

/** One client's detectors and how far into its shared query stream they have got. */
export interface ClientState {
  detectors: ClientDetector[];
  applied: number;
}

/** Most clients whose detector state one route keeps in memory. */
const MAX_CLIENTS = 10_000;

export interface DetectionOptions {
  route: string;
  config: DetectorsConfig;
  responder: IncidentResponder;
  /** May outlive the hook (the guard keeps it across reloads), so a reload does not reset what the detectors have seen. */
  perClient?: Map<string, ClientState>;
  /** The out-of-distribution detector whose flags the "ood-rate" test counts, with that test's options. */
  ood?: { detector: Detector; rate: Partial<OodRateOptions> & { p0: number } };
  /** Shares every client's query stream between instances; the queries are quantised over `range`. */
  shared?: { log: QueryLog; range: readonly [number, number] };
  logger?: FastifyBaseLogger;
}

export function detectionHook({ route, config, responder, perClient = new Map(), ood, shared, logger }: DetectionOptions): PredictionHook {
  const create = (): ClientDetector[] => {
    const detectors: ClientDetector[] = [];
    if (config.prada) {
      const d = createPradaDetector(config.prada);
      detectors.push({
        name: "prada",
        observe: ({ x, cls }) => {
          const o = d.observe(x, cls);
          return { alarm: o.alarm, detail: `Shapiro–Wilk W ${o.w?.toFixed(3)} < δ ${d.options.delta} after ${o.queries} queries` };
        },
      });
    }
    if (config.statefulKnn) {
      const d = createStatefulKnnDetector(config.statefulKnn);
      detectors.push({
        name: "stateful-knn",
        observe: ({ x }) => {
          const o = d.observe(x);
          return {
            alarm: o.alarm,
            detail: `mean distance to the ${d.options.k} nearest earlier queries ${o.meanDistance?.toFixed(3)} < ${d.options.threshold} after ${o.queries} queries`,
          };
        },
      });
    }
    if (ood) {
      const d = createOodRateDetector(ood.rate);
      detectors.push({
        name: "ood-rate",
        observe: ({ outOfDistribution }) => {
          const o = d.observe(outOfDistribution);
          return {
            alarm: o.alarm,
            detail: `${o.flagged} of ${o.queries} queries out of distribution (${ood.detector.name}); CUSUM of flag rate ${d.options.p1} against ${d.options.p0} reached ${d.options.h.toFixed(1)}`,
          };
        },
      });
    }
    return detectors;
  };

  const stateOf = (client: string): ClientState => {
    let state = perClient.get(client);
    if (state) perClient.delete(client);
    else state = { detectors: create(), applied: 0 };
    perClient.set(client, state);
    if (perClient.size > MAX_CLIENTS) perClient.delete(perClient.keys().next().value as string);
    return state;
  };

  const observeAll = (state: ClientState, query: ObservedQuery, alarms: Map<string, string>) => {
    for (const d of state.detectors) {
      const o = d.observe(query);
      if (o.alarm) alarms.set(d.name, o.detail);
    }
  };

  /** Appends the queries to the shared stream and replays what this instance has not seen; alarms count only on its own queries (the instance that received a query reports it). */
  const replayShared = async (client: string, state: ClientState, queries: ObservedQuery[], alarms: Map<string, string>) => {
    if (!shared) return false;
    const { log, range } = shared;
    let reply: Awaited<ReturnType<QueryLog["append"]>>;
    try {
      reply = await log.append(
        `${route}:${client}`,
        state.applied,
        queries.map((q) => encodeQuery(q, log.instance, range)),
      );
    } catch (e) {
      logger?.warn(`query-stream detectors: the shared query log is unavailable (${(e as Error).message}); observing this instance's queries only`);
      return false;
    }
    if (reply.restarted) {
      state.detectors = create();
      state.applied = reply.from;
    }
    const ignored = new Map<string, string>();
    reply.entries.forEach((entry, i) => {
      // A concurrent request of the same client may already have replayed this entry.
      if (reply.from + i < state.applied) return;
      const query = decodeQuery(entry, range);
      observeAll(state, query, query.instance === log.instance ? alarms : ignored);
    });
    state.applied = Math.max(state.applied, reply.from + reply.entries.length);
    return true;
  };

  return async (request: FastifyRequest, x: Tensor<"float32">, probs: Tensor<"float32">) => {
    const client = clientId(request.aegis, request.ip);
    const state = stateOf(client);
    const n = x.shape[0];
    const dim = x.data.length / n;
    const k = probs.shape[1];
    const oodScores = ood ? await ood.detector.score(x) : undefined;
    const queries: ObservedQuery[] = [];
    for (let i = 0; i < n; i++) {
      queries.push({
        x: x.data.subarray(i * dim, (i + 1) * dim),
        cls: argmax(probs.data.subarray(i * k, (i + 1) * k)),
        outOfDistribution: oodScores !== undefined && oodScores[i] >= (ood?.detector.threshold ?? Number.POSITIVE_INFINITY),
      });
    }
    const alarms = new Map<string, string>();
    if (!(await replayShared(client, state, queries, alarms))) for (const q of queries) observeAll(state, q, alarms);
    for (const [detector, detail] of alarms) {
      request.aegis.decisions.push({ control: detector, action: "flag", reason: "alarm" });
      await responder.detect({ client, route, detector, detail });
    }
    return undefined;
  };
}

/**
 * Adversarial-input detection on every instance (feature squeezing, Xu et al. 2018,
 * Mahalanobis, Lee et al. 2018, or STRIP's backdoor-trigger test, Gao et al. 2019, fitted
 * with `aegis detect fit`): flagged inputs are recorded, reported to incident response, and
 * refused when the route says so.
 */
export function adversarialHook(route: string, detector: Detector, reject: boolean, responder: IncidentResponder): PredictionHook {
  return async (request, x) => {
    const scores = await detector.score(x);
    const flagged = scores.filter((s) => s >= detector.threshold).length;
    if (flagged === 0) return undefined;
    const client = clientId(request.aegis, request.ip);
    request.aegis.decisions.push({ control: detector.name, action: reject ? "block" : "flag", reason: "adversarial-input" });
    await responder.detect({
      client,
      route,
      detector: detector.name,
      detail: `${flagged} of ${scores.length} inputs scored above ${detector.threshold.toFixed(4)}`,
    });
    if (reject)
      throw new RequestError(
        400,
        "ADVERSARIAL_INPUT",
        `${flagged} of the ${scores.length} instances look adversarial to the ${detector.name} detector; the request was refused`,
      );
    return undefined;
  };
}

/** The route's output controls (top-k, rounding, labels only, reverse sigmoid, noise: ART's postprocessors), for every client. */
export function outputHook(postprocessors: readonly Postprocessor[]): PredictionHook {
  return (request, _x, probs) => {
    request.aegis.decisions.push({ control: "output", action: "degrade", reason: postprocessors.map((p) => p.name).join("+") });
    return postprocessors.reduce((out, p) => p.apply(out), probs);
  };
}

/**
 * The final hook of a route: what a client under a "degrade" incident sees, by the rule
 * that opened it. Labels only (the top class with probability 1) leaves an extraction
 * attack the least to learn from; shuffled top-k keeps the k most likely classes but deals
 * their probabilities to them in random order, so the scores carry no ranking or margin.
 */
export function degradeHook(responder: IncidentResponder, rules: readonly IncidentRule[], random: () => number = Math.random): PredictionHook {
  return (request, _x, probs) => {
    const incident = responder.status(clientId(request.aegis, request.ip)).degraded;
    if (!incident) return undefined;
    const rule = rules.find((r) => r.detector === incident.detector && r.action === "degrade");
    const degradeTo = rule?.degradeTo ?? { output: "labels-only" };
    request.aegis.decisions.push({ control: "incident", action: "degrade", reason: `${incident.detector}: ${degradeTo.output}` });
    const k = probs.shape[1];
    const out = new Float32Array(probs.data.length);
    for (let i = 0; i < probs.shape[0]; i++) {
      const row = probs.data.subarray(i * k, (i + 1) * k);
      if (degradeTo.output === "labels-only") {
        out[i * k + argmax(row)] = 1;
        continue;
      }
      const top = topIndices(row, Math.min(degradeTo.k, k));
      const values = top.map((j) => row[j]);
      // Fisher–Yates over the values, so every assignment to the top classes is equally likely.
      for (let j = values.length - 1; j > 0; j--) {
        const swap = Math.floor(random() * (j + 1));
        [values[j], values[swap]] = [values[swap], values[j]];
      }
      top.forEach((j, t) => {
        out[i * k + j] = values[t];
      });
    }
    return { dtype: "float32", shape: probs.shape, data: out };
  };
}

/** Indices of the n largest values, largest first. */
function topIndices(row: Float32Array, n: number): number[] {
  return Array.from(row.keys())
    .sort((a, b) => row[b] - row[a])
    .slice(0, n);
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
  return best;
}
