/**
 * Online drift in a real guard: a model route with `drift:` fed fresh MNIST test digits in
 * windows of 200, then the same digits rotated by 15°. The clean windows raise at most the
 * false alarms their α allows, the first rotated window raises drift, the gauges move, an
 * alert-only incident opens for the route, and no request is refused. Also the windowing
 * itself (windows across requests, skipped windows) and the configurations refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createRng, loadMnistFull } from "../../src/data/index.js";
import { encodeNpy } from "../../src/data/npy.js";
import {
  alertRules,
  type GuardConfig,
  grafanaDashboard,
  IncidentStore,
  loadGuardConfig,
  NPY_CONTENT_TYPE,
  type RunningGuard,
  startGuard,
} from "../../src/gateway/index.js";
import { fitDrift, fitReference, type Observation, OnlineDriftMonitor, rotateImages, saveDriftDetector, type WindowCheck } from "../../src/monitoring/index.js";
import { sliceRows, type Tensor } from "../../src/tensor.js";
import { promtoolProblems, promtoolUnitTest } from "../helpers/promtool.js";

const modelPath = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const otherModel = new URL("../../fixtures/adversarial/torch_cnn.onnx", import.meta.url).pathname;
const WINDOW = 200;
/** Clean windows sent before the rotated one: the false-alarm count is measured over them. */
const CLEAN_WINDOWS = 20;
const REFERENCE = 500;
const PER_REQUEST = 100;

const dir = mkdtempSync(join(tmpdir(), "aegis-drift-guard-"));
let guard: RunningGuard;
let stream: Tensor<"float32">;

before(async () => {
  // A seeded shuffle of MNIST's test digits: the first 500 are the reference, the next 4,200 the traffic.
  const { x } = loadMnistFull("test");
  const order = createRng(5).shuffle(Array.from({ length: x.shape[0] }, (_, i) => i));
  const pick = (from: number, to: number) => {
    const size = x.data.length / x.shape[0];
    const data = new Float32Array((to - from) * size);
    order.slice(from, to).forEach((row, i) => {
      data.set(x.data.subarray(row * size, (row + 1) * size), i * size);
    });
    return { dtype: "float32" as const, shape: [to - from, ...x.shape.slice(1)], data };
  };
  const file = await fitDrift(modelPath, { x: pick(0, REFERENCE), name: "mnist test digits" }, { referenceSize: REFERENCE, permutations: 200 });
  saveDriftDetector(join(dir, "drift.json"), file);
  stream = pick(REFERENCE, REFERENCE + (CLEAN_WINDOWS + 1) * WINDOW);
  writeFileSync(
    join(dir, "guard.yaml"),
    `server: { port: 0 }
auth: { anonymousRoles: [predict] }
auditLog: { path: audit.db }
metrics: { public: true }
routes:
  - name: digits
    model: ${modelPath}
    drift: { detector: drift.json, window: ${WINDOW} }
`,
  );
  guard = await startGuard(join(dir, "guard.yaml"));
});

after(async () => {
  await guard?.close();
});

async function predict(batch: Tensor<"float32">): Promise<number> {
  const body = Buffer.from(encodeNpy(batch));
  const res = await fetch(`${guard.url}/v1/models/digits:predict`, { method: "POST", headers: { "content-type": NPY_CONTENT_TYPE }, body });
  await res.arrayBuffer();
  return res.status;
}

/** The guard's drift series, by name and labels as Prometheus prints them. */
async function driftMetrics(): Promise<Map<string, number>> {
  const text = await (await fetch(`${guard.url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(aegis_drift_\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

const DETECTED = 'aegis_drift_detected{route="digits"}';
const windowsChecked = (m: Map<string, number>) =>
  (m.get('aegis_drift_windows_total{route="digits",result="drift"}') ?? 0) + (m.get('aegis_drift_windows_total{route="digits",result="no-drift"}') ?? 0);

/** Sends one window's digits, then waits for the guard to check it (windows sent faster than they are checked are skipped, by design). */
async function sendWindow(window: Tensor<"float32">, statuses: number[]): Promise<Map<string, number>> {
  const before = windowsChecked(await driftMetrics());
  for (let i = 0; i < WINDOW; i += PER_REQUEST) statuses.push(await predict(sliceRows(window, i, i + PER_REQUEST)));
  return checkedBeyond(before);
}

/** The drift series once more than `count` windows have been checked. */
async function checkedBeyond(count: number): Promise<Map<string, number>> {
  for (;;) {
    const m = await driftMetrics();
    if (windowsChecked(m) > count) return m;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("clean digits raise at most the false alarms α allows; rotated digits raise drift in the first window, an alert and no block", async (t) => {
  const statuses: number[] = [];
  let metrics = await driftMetrics();
  assert.equal(metrics.get(DETECTED), 0, "the series exists from the start, at 0");
  assert.equal(metrics.get('aegis_drift_window_samples{route="digits"}'), 0);
  statuses.push(await predict(sliceRows(stream, 0, 30)));
  metrics = await driftMetrics();
  assert.equal(metrics.get('aegis_drift_window_samples{route="digits"}'), 30, "the window fills as instances arrive");
  // Complete that first window from the next 170 digits, then whole windows.
  for (let i = 30; i < WINDOW; i += 85) statuses.push(await predict(sliceRows(stream, i, i + 85)));
  // The drift gauge after each window, a scrape a minute for promtool below.
  const detected = [(await checkedBeyond(0)).get(DETECTED) ?? Number.NaN];
  for (let w = 1; w < CLEAN_WINDOWS; w++) {
    metrics = await sendWindow(sliceRows(stream, w * WINDOW, (w + 1) * WINDOW), statuses);
    detected.push(metrics.get(DETECTED) ?? Number.NaN);
  }
  assert.equal(windowsChecked(metrics), CLEAN_WINDOWS);
  const falseAlarms = metrics.get('aegis_drift_windows_total{route="digits",result="drift"}') ?? 0;
  assert.equal(metrics.get('aegis_drift_windows_total{route="digits",result="skipped"}'), undefined, "no window was skipped");
  // At α = 0.05 per window, 20 windows raise one false alarm on average; 4 or more has probability 1.6%.
  assert.ok(falseAlarms <= 3, `${falseAlarms} false alarms in ${CLEAN_WINDOWS} clean windows`);
  t.diagnostic(`${falseAlarms} false alarms in ${CLEAN_WINDOWS} clean windows of ${WINDOW}`);
  const store = new IncidentStore(join(dir, "audit.db"));
  try {
    const before = store.list({ status: "open" }).filter((i) => i.detector === "drift").length;
    assert.equal(before, falseAlarms > 0 ? 1 : 0, "one incident per route, however many windows drifted");

    const rotated = rotateImages(sliceRows(stream, CLEAN_WINDOWS * WINDOW, (CLEAN_WINDOWS + 1) * WINDOW), 15);
    metrics = await sendWindow(rotated, statuses);
    detected.push(metrics.get(DETECTED) ?? Number.NaN);
    assert.equal(metrics.get('aegis_drift_windows_total{route="digits",result="drift"}'), falseAlarms + 1, "the rotated window drifted");
    assert.equal(metrics.get(DETECTED), 1);
    const p = metrics.get('aegis_drift_p_value{route="digits"}') ?? 1;
    assert.ok(p < 0.05, `adjusted p ${p}`);

    const incidents = store.list({ status: "open" }).filter((i) => i.detector === "drift");
    assert.equal(incidents.length, 1);
    const [incident] = incidents;
    assert.deepEqual([incident.client, incident.route, incident.action, incident.until], ["route:digits", "digits", "alert", undefined]);
    assert.match(incident.timeline.map((e) => e.detail ?? "").join("\n"), /drift on digits: window \d+ of 200 instances: .*p .* < α 0\.05/);
    // Not blocked: every request so far, and one after the alarm, answered 200.
    statuses.push(await predict(sliceRows(rotated, 0, 10)));
    assert.ok(
      statuses.every((s) => s === 200),
      `statuses ${[...new Set(statuses)]}`,
    );
  } finally {
    store.close();
  }
  // The generated alert fires on the recorded gauge at the rotated window, and not at a clean window that raised no alarm.
  const quiet = detected.indexOf(0);
  const alerted = detected.length - 1;
  const result = await promtoolUnitTest(dir, "drift", alertRules(guard.config), [
    {
      interval: "1m",
      input_series: [{ series: DETECTED, values: detected.join(" ") }],
      alert_rule_test: [
        { eval_time: `${quiet}m`, alertname: "AegisDataDrift", exp_alerts: [] },
        {
          eval_time: `${alerted}m`,
          alertname: "AegisDataDrift",
          exp_alerts: [
            {
              exp_labels: { severity: "warning", route: "digits" },
              exp_annotations: {
                summary: "The traffic of digits has drifted from its drift detector's reference",
                description:
                  "The last window of instances checked on digits differs from the data its drift detector was fitted on (aegis_drift_p_value below the route's α); `aegis incidents list --db <auditLog.path> --status open` shows the tests that fired. Check the inputs, then refit the detector or retrain the model.",
              },
            },
          ],
        },
      ],
    },
  ]);
  assert.equal(result.code, 0, result.output);
  assert.equal(await promtoolProblems(await (await fetch(`${guard.url}/metrics`)).text()), "", "promtool check metrics passes on the drift series");
});

/** A tabular detector on 2 standard-normal features, fitted at α 0.05. */
function tabular(rows: number, seed: number, shift = 0): Observation {
  const rng = createRng(seed);
  const data = Float32Array.from({ length: rows * 2 }, () => rng.normal() + shift);
  return {
    values: { rows, dim: 2, data },
    predicted: Int32Array.from({ length: rows }, (_, i) => i % 2),
    confidence: new Float64Array(rows).fill(0.9),
    classes: 2,
  };
}

function part(o: Observation, from: number, to: number): Observation {
  return {
    values: { rows: to - from, dim: 2, data: o.values.data.slice(from * 2, to * 2) },
    predicted: o.predicted.slice(from, to),
    confidence: o.confidence.slice(from, to),
    classes: 2,
  };
}

test("windows span batches; a window that fills while the worker is busy waits, and a further one replaces it as skipped", async () => {
  const detector = fitReference(tabular(500, 1), { method: "features" });
  const checks: WindowCheck[] = [];
  const monitor = await OnlineDriftMonitor.start(detector, { window: 100, onWindow: (c) => checks.push(c) });
  try {
    const clean = tabular(700, 2);
    // 3 batches of 70 rows: two windows and 10 rows of a third, all observed before the worker answers.
    for (let i = 0; i < 210; i += 70) monitor.observe(part(clean, i, i + 70));
    assert.equal(monitor.filling, 10);
    // The worker is busy with window 1 and window 2 waits; 190 + 100 more rows fill windows 3, 4 and 5, each replacing the one waiting.
    monitor.observe(part(clean, 210, 400));
    monitor.observe(tabular(100, 3, 1));
    await monitor.idle();
    assert.deepEqual(
      checks.map((c) => [c.index, c.rows, c.skipped]),
      [
        [1, 100, 0],
        [5, 100, 3],
      ],
    );
    assert.equal(checks[1].drift, true, "the last window, shifted by one standard deviation, is the one checked");
    assert.ok(checks[1].pValue < 0.05 && checks[1].tests.length === 4);
    assert.throws(
      () => monitor.observe({ ...tabular(5, 4), values: { rows: 5, dim: 10, data: new Float32Array(50) } }),
      /10 values per row, the drift reference 2/,
    );
  } finally {
    await monitor.close();
  }
});

test("the guard refuses a drift detector of another model, too few permutations, a blocking drift rule and drift on an upstream route", async () => {
  const config = (route: string, extra = "") => {
    const file = join(dir, `refused-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `server: { port: 0 }\nauth: { anonymousRoles: [predict] }\nauditLog: { path: audit2.db }\n${extra}routes:\n  - ${route}\n`);
    return file;
  };
  await assert.rejects(startGuard(config(`{ name: other, model: ${otherModel}, drift: { detector: drift.json } }`)), (e: Error) => {
    assert.match(e.message, /fitted with mnist-cnn\.onnx .*not torch_cnn\.onnx.*routes\.other\.drift\.detector/);
    return true;
  });
  await assert.rejects(
    startGuard(config(`{ name: digits, model: ${modelPath}, drift: { detector: drift.json, alpha: 0.001 } }`)),
    /200 permutations cannot give a p-value below α\/3 = 0\.000333; set permutations to at least 3000/,
  );
  await assert.rejects(
    startGuard(config(`{ name: digits, model: ${modelPath} }`, "incidents: { rules: [{ detector: drift, action: block }] }\n")),
    /must be alert for drift/,
  );
  await assert.rejects(
    startGuard(config("{ name: up, upstream: http://127.0.0.1:9, inputShape: [4], drift: { detector: drift.json } }")),
    /drift.*needs a local model route/,
  );
  await assert.rejects(startGuard(config(`{ name: digits, model: ${modelPath}, drift: { detector: drift.json, window: 5 } }`)), /window.*20/);
});

test("the Grafana dashboard has a Drift row of the drift series for a guard with a drift route, and no drift series otherwise", () => {
  type Panel = { type: string; title: string; targets?: { expr: string }[] };
  const panels = (config: GuardConfig) => (grafanaDashboard(config) as { panels: Panel[] }).panels;
  const drifting = panels(guard.config);
  const row = drifting.findIndex((p) => p.type === "row" && p.title === "Drift");
  const next = drifting.findIndex((p, i) => i > row && p.type === "row");
  assert.ok(row > 0 && next > row);
  assert.deepEqual(
    drifting.slice(row + 1, next).map((p) => [p.title, p.targets?.map((t) => t.expr)]),
    [
      ["Bonferroni-adjusted p-value of the last drift window checked (drift below α)", ['sum by (route) (aegis_drift_p_value{route=~"$route"})']],
      ["1 when the last drift window checked drifted from the reference", ['sum by (route) (aegis_drift_detected{route=~"$route"})']],
      ["Instances in the drift window being filled", ['sum by (route) (aegis_drift_window_samples{route=~"$route"})']],
      ["Drift windows checked — by route", ['sum by (route) (rate(aegis_drift_windows_total{route=~"$route"}[5m]))']],
      ["Drift windows checked — by result", ['sum by (result) (rate(aegis_drift_windows_total{route=~"$route"}[5m]))']],
    ],
  );
  const plain = join(dir, "plain.yaml");
  writeFileSync(plain, `auth: { anonymousRoles: [predict] }\nroutes: [{ name: digits, model: ${modelPath} }]\n`);
  const exprs = panels(loadGuardConfig(plain)).flatMap((p) => p.targets ?? []);
  assert.ok(exprs.length > 10 && exprs.every((t) => !t.expr.includes("aegis_drift")));
});
