/**
 * Prometheus recording and alerting rules for a guard's metrics (plugins/metrics.ts), written
 * for the routes and controls one guard.yaml configures: extraction alarms only where a route
 * has query-stream detectors, upstream errors only where there is an upstream, token budgets
 * only where an LLM route sets one, drift only where a route watches it. Recording rules follow Prometheus's level:metric:operations
 * naming; every alert says which Aegis command shows the detail.
 */
import { stringify } from "yaml";
import type { GuardConfig } from "./config.js";

export interface AlertThresholds {
  /** Share of a route's requests answered 5xx over 5 minutes (default 0.05). */
  errorRatio: number;
  /** p99 request latency in seconds over 5 minutes (default 1). */
  latencyP99: number;
}

export const ALERT_DEFAULTS: AlertThresholds = { errorRatio: 0.05, latencyP99: 1 };

/** The controls whose "alarm" decisions mean a client's query stream looks like model extraction. */
const QUERY_STREAM_DETECTORS = ["prada", "stateful-knn", "ood-rate"];

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/**
 * The decision series the alerts read, which the guard creates at 0 on start: a counter that
 * first appears already at 1 shows no increase() to Prometheus, so a first alarm would be
 * missed, and one client blocked on its first alarm raises no second one.
 */
export function alertedDecisions(config: GuardConfig): { route: string; control: string; action: string; reason: string }[] {
  const series: { route: string; control: string; action: string; reason: string }[] = [];
  for (const route of config.routes) {
    if (route.kind === "llm" || route.kind === "he" || !route.detectors) continue;
    const { prada, statefulKnn, ood } = route.detectors;
    const controls = [prada && "prada", statefulKnn && "stateful-knn", ood && "ood-rate"].filter((c): c is string => Boolean(c));
    for (const control of controls) series.push({ route: route.name, control, action: "flag", reason: "alarm" });
  }
  return series;
}

const oneOf = (names: readonly string[]) => names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\\\$&")).join("|");

export function alertRules(config: GuardConfig, thresholds: AlertThresholds = ALERT_DEFAULTS): string {
  const routes = config.routes;
  const upstreamRoutes = routes.filter((r) => r.kind === "proxy" || r.kind === "llm").map((r) => r.name);
  const watched = routes
    .filter((r) => (r.kind === "model" || r.kind === "proxy") && (r.detectors?.prada || r.detectors?.statefulKnn || r.detectors?.ood))
    .map((r) => r.name);
  const drifting = routes.some((r) => r.kind === "model" && r.drift);
  const budgeted = routes.filter((r) => r.kind === "llm" && (r.tokensPerMinute !== undefined || r.tokenBudgetPerDay !== undefined)).map((r) => r.name);

  const recording: Rule[] = [
    { record: "aegis_route:requests:rate5m", expr: "sum by (route) (rate(aegis_requests_total[5m]))" },
    { record: "aegis_route:requests_5xx:rate5m", expr: 'sum by (route) (rate(aegis_requests_total{status=~"5.."}[5m]))' },
    { record: "aegis_route:requests_5xx:ratio_rate5m", expr: "aegis_route:requests_5xx:rate5m / aegis_route:requests:rate5m" },
    {
      record: "aegis_route:request_duration_seconds:p99_5m",
      expr: "histogram_quantile(0.99, sum by (route, le) (rate(aegis_request_duration_seconds_bucket[5m])))",
    },
    { record: "aegis_control:decisions:rate5m", expr: "sum by (control, action, reason) (rate(aegis_decisions_total[5m]))" },
  ];
  const alerts: Rule[] = [
    {
      alert: "AegisHighErrorRate",
      expr: `aegis_route:requests_5xx:ratio_rate5m > ${thresholds.errorRatio}`,
      for: "5m",
      labels: { severity: "critical" },
      annotations: {
        summary: "Route {{ $labels.route }} answers {{ $value | humanizePercentage }} of its requests with a 5xx",
        description: `More than ${thresholds.errorRatio * 100}% of the requests to {{ $labels.route }} failed on the server side for 5 minutes; the guard's log has the causes.`,
      },
    },
    {
      alert: "AegisHighLatencyP99",
      expr: `aegis_route:request_duration_seconds:p99_5m > ${thresholds.latencyP99}`,
      for: "10m",
      labels: { severity: "warning" },
      annotations: {
        summary: "Route {{ $labels.route }} p99 latency is {{ $value | humanizeDuration }}",
        description: `The 99th percentile of request latency on {{ $labels.route }} stayed above ${thresholds.latencyP99} s for 10 minutes.`,
      },
    },
    {
      alert: "AegisClientsBlocked",
      expr: "max(aegis_blocked_clients) > 0",
      for: "1m",
      labels: { severity: "warning" },
      annotations: {
        summary: "{{ $value }} client(s) are blocked by the guard's incident response",
        description: "An incident rule blocked clients; `aegis incidents list --db <auditLog.path> --status open` names them and the detector that fired.",
      },
    },
  ];
  if (watched.length > 0)
    alerts.push({
      alert: "AegisModelExtractionAlarm",
      expr: `sum by (route, control) (increase(aegis_decisions_total{control=~"${oneOf(QUERY_STREAM_DETECTORS)}", reason="alarm"}[5m])) > 0`,
      labels: { severity: "critical" },
      annotations: {
        summary: "The {{ $labels.control }} detector of {{ $labels.route }} flagged a query stream that looks like model extraction",
        description:
          "A client's queries to {{ $labels.route }} raised {{ $value }} {{ $labels.control }} alarm(s) in 5 minutes; `aegis incidents list --db <auditLog.path> --status open` names the client.",
      },
    });
  if (drifting)
    alerts.push({
      alert: "AegisDataDrift",
      expr: "max by (route) (aegis_drift_detected) > 0",
      labels: { severity: "warning" },
      annotations: {
        summary: "The traffic of {{ $labels.route }} has drifted from its drift detector's reference",
        description:
          "The last window of instances checked on {{ $labels.route }} differs from the data its drift detector was fitted on (aegis_drift_p_value below the route's α); `aegis incidents list --db <auditLog.path> --status open` shows the tests that fired. Check the inputs, then refit the detector or retrain the model.",
      },
    });
  if (upstreamRoutes.length > 0) {
    recording.push({
      record: "aegis_route:upstream_errors:ratio_rate5m",
      expr: `sum by (route) (rate(aegis_requests_total{route=~"${oneOf(upstreamRoutes)}", status=~"502|503|504"}[5m])) / aegis_route:requests:rate5m`,
    });
    alerts.push({
      alert: "AegisUpstreamErrors",
      expr: `aegis_route:upstream_errors:ratio_rate5m > ${thresholds.errorRatio}`,
      for: "5m",
      labels: { severity: "critical" },
      annotations: {
        summary: "The upstream of {{ $labels.route }} fails {{ $value | humanizePercentage }} of requests",
        description: "Requests to {{ $labels.route }} end in 502 (upstream error), 503 (circuit open) or 504 (upstream timeout); check the upstream.",
      },
    });
  }
  if (budgeted.length > 0)
    alerts.push({
      alert: "AegisTokenBudgetExhausted",
      expr: 'sum by (route, action, reason) (increase(aegis_decisions_total{control="token-limit"}[10m])) > 0',
      labels: { severity: "info" },
      annotations: {
        summary: "Clients of {{ $labels.route }} ran out of their {{ $labels.reason }} ({{ $value }} refused in 10 minutes)",
        description: `Prompts to ${budgeted.join(", ")} were refused because a client's token budget was spent; a client that keeps hitting it may be abusing the LLM (OWASP LLM10).`,
      },
    });
  const header = `# Prometheus rules for the Aegis guard of ${config.file}, written by \`aegis guard alerts\`.\n# Load them with rule_files: in prometheus.yml; check them with \`promtool check rules\`.\n`;
  return (
    header +
    stringify(
      {
        groups: [
          { name: "aegis-guard-recording", rules: recording },
          { name: "aegis-guard-alerts", rules: alerts },
        ],
      },
      { lineWidth: 0 },
    )
  );
}
