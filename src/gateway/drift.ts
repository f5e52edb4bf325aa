/**
 * Online drift on a model route (`drift:` in guard.yaml). Every instance the route answers
 * is seen as `aegis drift check` sees a batch — the model's penultimate features (from the
 * route's own forward pass when it shares one) or, for a tabular model, the row itself, with
 * the predicted class and its probability — and added to the route's tumbling window
 * (monitoring's OnlineDriftMonitor checks each full window in a worker thread, so the
 * request only pays for copying its rows). A checked window sets the route's gauges; a
 * drifted one opens an incident for the route under the "drift" incident rule, which can only
 * alert: drift is a property of the route's whole traffic, and refusing one client for it
 * would punish whoever happened to send the window's last instance.
 */
import type { FastifyBaseLogger } from "fastify";
import type { FeatureSource } from "../defenses/index.js";
import {
  type DriftDetectorFile,
  loadDriftDetector,
  modelSha256,
  OnlineDriftMonitor,
  observationOf,
  requireFittedModel,
  type WindowCheck,
} from "../monitoring/index.js";
import type { IncidentResponder } from "./incidents/responder.js";
import type { PredictionHook } from "./model-route.js";
import type { GuardMetrics } from "./plugins/metrics.js";

/** The detector name drift incidents and incident rules use. */
export const DRIFT_DETECTOR = "drift";

export interface DriftRouteConfig {
  /** An `aegis drift fit` file fitted with the route's model. */
  detector: string;
  /** Instances per window. */
  window: number;
  /** Per-window false-alarm rate (default: the detector file's α). */
  alpha?: number;
  /** MMD permutations per window (default: the detector file's). */
  permutations?: number;
}

/** The client a drift incident is recorded under: the route's traffic as a whole. */
export const driftClient = (route: string) => `route:${route}`;

/** The route's drift detector, refused unless it was fitted with the route's model (same SHA-256 of the plaintext model). */
export function openRouteDrift(route: string, model: string, config: DriftRouteConfig): DriftDetectorFile {
  const file = loadDriftDetector(config.detector);
  requireFittedModel(file, model, modelSha256(model), `name one fitted with ${model} in routes.${route}.drift.detector`);
  return file;
}

export interface DriftWatch {
  hook: PredictionHook;
  monitor: OnlineDriftMonitor;
  close(): Promise<void>;
}

export interface DriftWatchOptions {
  route: string;
  file: DriftDetectorFile;
  config: DriftRouteConfig;
  /** The layer the detector reads (MMD detectors); tabular detectors read the instances. */
  features?: FeatureSource;
  metrics: GuardMetrics;
  responder: IncidentResponder;
  log: FastifyBaseLogger;
}

export async function watchDrift({ route, file, config, features, metrics, responder, log }: DriftWatchOptions): Promise<DriftWatch> {
  const labels = { route };
  const report = async (check: WindowCheck) => {
    metrics.drift.pValue.set(labels, check.pValue);
    metrics.drift.detected.set(labels, check.drift ? 1 : 0);
    metrics.drift.windows.inc({ route, result: check.drift ? "drift" : "no-drift" });
    if (check.skipped > 0) metrics.drift.windows.inc({ route, result: "skipped" }, check.skipped);
    if (check.drift) await responder.detect({ client: driftClient(route), route, detector: DRIFT_DETECTOR, detail: describeCheck(check) });
  };
  const monitor = await OnlineDriftMonitor.start(file.detector, {
    window: config.window,
    alpha: config.alpha,
    permutations: config.permutations,
    onWindow: (check) => void report(check).catch((e: Error) => log.error(`drift on ${route}: recording window ${check.index} failed (${e.message})`)),
    onError: (e) => log.error(`drift on ${route}: ${e.message}`),
  });
  metrics.drift.detected.set(labels, 0);
  metrics.drift.windowSamples.set(labels, 0);
  log.info(
    `drift on ${route}: windows of ${config.window} instances at α ${monitor.alpha}, so at most one false alarm per ${Math.round(config.window / monitor.alpha)} instances on average`,
  );
  return {
    monitor,
    hook: async (_request, x, probs) => {
      const n = x.shape[0];
      const values = features ? await features.features(x) : x;
      monitor.observe(observationOf({ rows: n, dim: values.data.length / n, data: values.data }, probs));
      metrics.drift.windowSamples.set(labels, monitor.filling);
      return undefined;
    },
    close: () => monitor.close(),
  };
}

/** "window 3 of 200 instances: penultimate features (mmd) p 0.005 < 0.0167; adjusted p 0.015 < α 0.05". */
function describeCheck(check: WindowCheck): string {
  const drifted = check.tests.filter((t) => t.drifted).map((t) => `${t.name} (${t.test}) p ${t.pValue.toPrecision(2)} < ${t.threshold.toPrecision(3)}`);
  return `window ${check.index} of ${check.rows} instances: ${drifted.join(", ")}; adjusted p ${check.pValue.toPrecision(2)} < α ${check.alpha}`;
}
