/**
 * Runs the configured query-stream detectors on every instance a client sends to a
 * route, one detector per client (the least recently seen clients are forgotten past a
 * bound), and hands alarms to incident response. A degraded client then sees labels
 * only: the top class with probability 1, which is what an extraction attack can least
 * use.
 */
import type { FastifyRequest } from "fastify";
import type { Detector, Postprocessor } from "../defenses/types.js";
import type { Tensor } from "../tensor.js";
import { clientId } from "./context.js";
import { createPradaDetector, type PradaOptions } from "./detectors/prada.js";
import { createStatefulKnnDetector, type StatefulKnnOptions } from "./detectors/stateful-knn.js";
import type { IncidentResponder } from "./incidents/responder.js";
import type { PredictionHook } from "./model-route.js";
import { RequestError } from "./validation.js";

export interface DetectorsConfig {
  prada?: Partial<PradaOptions>;
  statefulKnn?: Partial<StatefulKnnOptions> & { threshold: number };
  /** An `aegis detect fit` file (feature squeezing or Mahalanobis) for this route's model; `reject` refuses flagged inputs with 400. */
  adversarial?: { file: string; reject: boolean };
}

export interface ClientDetector {
  name: string;
  observe(x: Float32Array, predictedClass: number): { alarm: boolean; detail: string };
}

/** Most clients whose detector state one route keeps in memory. */
const MAX_CLIENTS = 10_000;

/** `perClient` may outlive the hook (the guard keeps it across reloads), so a reload does not reset what the detectors have seen. */
export function detectionHook(
  route: string,
  config: DetectorsConfig,
  responder: IncidentResponder,
  perClient = new Map<string, ClientDetector[]>(),
): PredictionHook {
  const create = (): ClientDetector[] => {
    const detectors: ClientDetector[] = [];
    if (config.prada) {
      const d = createPradaDetector(config.prada);
      detectors.push({
        name: "prada",
        observe: (x, cls) => {
          const o = d.observe(x, cls);
          return { alarm: o.alarm, detail: `Shapiro–Wilk W ${o.w?.toFixed(3)} < δ ${d.options.delta} after ${o.queries} queries` };
        },
      });
    }
    if (config.statefulKnn) {
      const d = createStatefulKnnDetector(config.statefulKnn);
      detectors.push({
        name: "stateful-knn",
        observe: (x) => {
          const o = d.observe(x);
          return {
            alarm: o.alarm,
            detail: `mean distance to the ${d.options.k} nearest earlier queries ${o.meanDistance?.toFixed(3)} < ${d.options.threshold} after ${o.queries} queries`,
          };
        },
      });
    }
    return detectors;
  };

  return async (request: FastifyRequest, x: Tensor<"float32">, probs: Tensor<"float32">) => {
    const client = clientId(request.aegis, request.ip);
    let detectors = perClient.get(client);
    if (detectors) perClient.delete(client);
    else detectors = create();
    perClient.set(client, detectors);
    if (perClient.size > MAX_CLIENTS) perClient.delete(perClient.keys().next().value as string);

    const n = x.shape[0];
    const dim = x.data.length / n;
    const k = probs.shape[1];
    const alarms = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const cls = argmax(probs.data.subarray(i * k, (i + 1) * k));
      for (const d of detectors) {
        const o = d.observe(x.data.subarray(i * dim, (i + 1) * dim), cls);
        if (o.alarm) alarms.set(d.name, o.detail);
      }
    }
    for (const [detector, detail] of alarms) {
      request.aegis.decisions.push({ control: detector, action: "flag", reason: "alarm" });
      await responder.detect({ client, route, detector, detail });
    }
    return undefined;
  };
}

/**
 * Adversarial-input detection on every instance (feature squeezing, Xu et al. 2018, or
 * Mahalanobis, Lee et al. 2018, fitted with `aegis detect fit`): flagged inputs are
 * recorded, reported to incident response, and refused when the route says so.
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

/** The final hook of a route: clients under a "degrade" incident get labels only. */
export function degradeHook(responder: IncidentResponder): PredictionHook {
  return (request, _x, probs) => {
    const status = responder.status(clientId(request.aegis, request.ip));
    if (!status.degraded) return undefined;
    request.aegis.decisions.push({ control: "incident", action: "degrade", reason: status.degraded.detector });
    const k = probs.shape[1];
    const labels = new Float32Array(probs.data.length);
    for (let i = 0; i < probs.shape[0]; i++) labels[i * k + argmax(probs.data.subarray(i * k, (i + 1) * k))] = 1;
    return { dtype: "float32", shape: probs.shape, data: labels };
  };
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
  return best;
}
