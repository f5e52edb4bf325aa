/**
 * A Grafana dashboard for the guard, generated from the metric definitions themselves
 * (plugins/metrics.ts), so a metric added there gets its panel and none can go stale:
 * counters as per-second rates split by each label (the busiest ten clients only, since
 * every client is a series), histograms as p50 and p99 by route, gauges as they are, then
 * the process's CPU, memory and event-loop lag, with a row of drift gauges when a route
 * watches drift. A `route` variable lists the routes of the
 * guard's config and filters every series that has a route. `aegis guard grafana` writes
 * it; import it into Grafana with a Prometheus data source.
 */
import { basename } from "node:path";
import { Counter, Gauge, Histogram } from "prom-client";
import type { GuardConfig } from "./config.js";
import { createGuardMetrics } from "./plugins/metrics.js";

interface Panel {
  id: number;
  type: "timeseries" | "row";
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: typeof DATASOURCE;
  targets?: { refId: string; expr: string; legendFormat: string }[];
  fieldConfig?: { defaults: { unit: string }; overrides: [] };
  collapsed?: boolean;
  panels?: [];
}

/** The dashboard's data-source variable, chosen on import. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template
const DATASOURCE = { type: "prometheus", uid: "${datasource}" } as const;

/** Labels whose every value is a series of its own: shown as the ten busiest. */
const UNBOUNDED_LABELS = new Set(["client"]);

/** The process metrics worth a panel, of the many prom-client collects. */
const PROCESS_PANELS: { title: string; expr: string; unit: string; legend: string }[] = [
  { title: "CPU", expr: "rate(aegis_process_cpu_seconds_total[5m])", unit: "percentunit", legend: "{{instance}}" },
  { title: "Resident memory", expr: "aegis_process_resident_memory_bytes", unit: "bytes", legend: "{{instance}}" },
  { title: "Event-loop lag p99", expr: "aegis_nodejs_eventloop_lag_p99_seconds", unit: "s", legend: "{{instance}}" },
];

type Metric = Counter | Histogram | Gauge;
const isMetric = (m: unknown): m is Metric => m instanceof Counter || m instanceof Histogram || m instanceof Gauge;

export function grafanaDashboard(config: GuardConfig): object {
  const all = createGuardMetrics(() => 0);
  const metrics = Object.values(all).filter(isMetric);
  // Drift's series exist only for routes that watch drift: their row, only for such a guard.
  const drift = config.routes.some((r) => r.kind === "model" && r.drift) ? Object.values(all.drift) : [];
  const panels: Panel[] = [];
  let y = 0;
  let x = 0;
  const add = (title: string, description: string, targets: { expr: string; legend: string }[], unit: string) => {
    panels.push({
      id: panels.length + 1,
      type: "timeseries",
      title,
      description,
      gridPos: { x, y, w: 12, h: 8 },
      datasource: DATASOURCE,
      targets: targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), expr: t.expr, legendFormat: t.legend })),
      fieldConfig: { defaults: { unit }, overrides: [] },
    });
    x = x === 0 ? 12 : 0;
    if (x === 0) y += 8;
  };
  const row = (title: string) => {
    if (x !== 0) y += 8;
    x = 0;
    panels.push({ id: panels.length + 1, type: "row", title, gridPos: { x: 0, y, w: 24, h: 1 }, collapsed: false, panels: [] });
    y += 1;
  };

  const metricPanels = (metric: Metric) => {
    const { name: metricName, help, labelNames } = metric as unknown as { name: string; help: string; labelNames: string[] };
    const selector = labelNames.includes("route") ? '{route=~"$route"}' : "";
    const name = `${metricName}${selector}`;
    if (metric instanceof Counter) {
      const labels = labelNames.length > 0 ? labelNames : [""];
      for (const label of labels) {
        const sum = label ? `sum by (${label}) (rate(${name}[5m]))` : `sum(rate(${name}[5m]))`;
        const unbounded = UNBOUNDED_LABELS.has(label);
        add(
          // "Requests by route, status and client" becomes "Requests — by route", one panel per label.
          `${help.replace(/,? by [\w ,]+$/, "")}${label ? ` — by ${label}${unbounded ? " (busiest 10)" : ""}` : ""}`,
          `${metricName}, per second over 5 minutes`,
          [{ expr: unbounded ? `topk(10, ${sum})` : sum, legend: label ? `{{${label}}}` : metricName }],
          "reqps",
        );
      }
    } else if (metric instanceof Histogram) {
      const by = labelNames.join(", ");
      add(
        help,
        `${metricName}: median and 99th percentile over 5 minutes`,
        [0.5, 0.99].map((q) => ({
          expr: `histogram_quantile(${q}, sum by (${by ? `${by}, ` : ""}le) (rate(${metricName}_bucket${selector}[5m])))`,
          legend: `p${q * 100}${by ? ` {{${labelNames[0]}}}` : ""}`,
        })),
        "s",
      );
    } else {
      add(
        help,
        name,
        [
          {
            expr: labelNames.length > 0 ? `sum by (${labelNames.join(", ")}) (${name})` : `max(${name})`,
            legend: labelNames.length > 0 ? `{{${labelNames[0]}}}` : name,
          },
        ],
        "short",
      );
    }
  };
  row("Guard");
  for (const metric of metrics) metricPanels(metric);
  if (drift.length > 0) {
    row("Drift");
    for (const metric of drift) metricPanels(metric);
  }
  row("Process");
  for (const p of PROCESS_PANELS) add(p.title, p.expr, [{ expr: p.expr, legend: p.legend }], p.unit);

  return {
    title: "Aegis guard",
    uid: "aegis-guard",
    description: `Written by \`aegis guard grafana\` from the guard's metric definitions, for the routes of ${basename(config.file)}.`,
    tags: ["aegis"],
    editable: true,
    schemaVersion: 39,
    time: { from: "now-6h", to: "now" },
    refresh: "30s",
    templating: {
      list: [
        { name: "datasource", label: "Prometheus", type: "datasource", query: "prometheus", current: {}, hide: 0 },
        {
          name: "route",
          label: "Route",
          type: "custom",
          query: config.routes.map((r) => r.name).join(","),
          multi: true,
          includeAll: true,
          allValue: ".*",
          current: { text: "All", value: "$__all" },
          hide: 0,
        },
      ],
    },
    annotations: { list: [] },
    panels,
  };
}
