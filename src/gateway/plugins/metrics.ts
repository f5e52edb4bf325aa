/**
 * Prometheus metrics at /metrics: requests by route, status and client; latency and
 * upstream-latency histograms; decisions by route and control; blocked clients; online drift by route. Each guard has its
 * own registry, so two guards in one process (tests) do not mix their counts, and keeps
 * it across reloads.
 */
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface MetricsOptions {
  metrics: GuardMetrics;
  /** Serve /metrics without authentication (for a scraper on a private network); default: admin or metrics role. */
  public?: boolean;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The guard's metrics; they outlive configuration reloads, so counters never go back. */
export function createGuardMetrics(blockedClients: () => number) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "aegis_" });
  // prom-client also exports each active-handle/request/resource breakdown's sum as a
  // gauge named *_total, which Prometheus reserves for counters (promtool check metrics
  // rejects it); the breakdown gauges hold the same numbers, so the sums go.
  for (const kind of ["handles", "requests", "resources"]) registry.removeSingleMetric(`aegis_nodejs_active_${kind}_total`);
  return {
    registry,
    requests: new Counter({
      name: "aegis_requests_total",
      help: "Requests by route, status and client",
      labelNames: ["route", "status", "client"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: "aegis_request_duration_seconds",
      help: "Time from request to response",
      labelNames: ["route"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    upstream: new Histogram({
      name: "aegis_upstream_duration_seconds",
      help: "Time the upstream took",
      labelNames: ["route"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    decisions: new Counter({
      name: "aegis_decisions_total",
      help: "Decisions by route, control and action",
      labelNames: ["route", "control", "action", "reason"],
      registers: [registry],
    }),
    incidents: new Counter({
      name: "aegis_incidents_total",
      help: "Incidents opened by this instance, by detector and action",
      labelNames: ["detector", "action"],
      registers: [registry],
    }),
    blocked: new Gauge({
      name: "aegis_blocked_clients",
      help: "Clients under a block right now",
      registers: [registry],
      collect() {
        this.set(blockedClients());
      },
    }),
    /** Online drift of the routes with `drift:` (gateway/drift.ts); no series for the others. */
    drift: {
      pValue: new Gauge({
        name: "aegis_drift_p_value",
        help: "Bonferroni-adjusted p-value of the last drift window checked (drift below α)",
        labelNames: ["route"],
        registers: [registry],
      }),
      detected: new Gauge({
        name: "aegis_drift_detected",
        help: "1 when the last drift window checked drifted from the reference",
        labelNames: ["route"],
        registers: [registry],
      }),
      windowSamples: new Gauge({
        name: "aegis_drift_window_samples",
        help: "Instances in the drift window being filled",
        labelNames: ["route"],
        registers: [registry],
      }),
      windows: new Counter({
        name: "aegis_drift_windows_total",
        // result: drift, no-drift, or skipped (filled while the worker was still checking).
        help: "Drift windows checked, by route and result",
        labelNames: ["route", "result"],
        registers: [registry],
      }),
    },
  };
}

export type GuardMetrics = ReturnType<typeof createGuardMetrics>;

const metrics: FastifyPluginAsync<MetricsOptions> = async (app, options) => {
  const { registry, requests, latency, upstream, decisions } = options.metrics;
  // Callback style: nothing is awaited here, so no promise per request.
  app.addHook("onResponse", (request, reply, done) => {
    if (!request.routeOptions.config.public) {
      const route = request.aegis.route ?? "unmatched";
      const byRoute = { route };
      requests.inc({ route, status: String(reply.statusCode), client: request.aegis.principal?.id ?? "anonymous" });
      latency.observe(byRoute, reply.elapsedTime / 1000);
      if (request.aegis.upstreamMs !== undefined) upstream.observe(byRoute, request.aegis.upstreamMs / 1000);
      for (const d of request.aegis.decisions) decisions.inc({ route, control: d.control, action: d.action, reason: d.reason ?? "" });
    }
    done();
  });

  app.get("/metrics", { config: options.public ? { public: true } : { roles: ["admin", "metrics"], routeName: "metrics" } }, async (_request, reply) => {
    reply.header("content-type", registry.contentType);
    return registry.metrics();
  });
};

export const metricsPlugin = fp(metrics, { name: "aegis-metrics", dependencies: ["aegis-context"] });
