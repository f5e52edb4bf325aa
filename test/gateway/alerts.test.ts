/**
 * `aegis guard alerts`: the rules pass `promtool check rules`, each alert fires (and stays
 * quiet) as `promtool test rules` unit tests say, and the extraction and blocked-client
 * alerts fire on metrics scraped from a real guard while an extraction attack runs.
 * promtool is Debian's prometheus package (.ci/run installs it); without it these fail.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { jacobianAugmentationStream } from "../../bench/extraction-streams.js";
import { loadMnist } from "../../src/data/mnist.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { startGuard } from "../../src/gateway/guard.js";
import { alertRules, loadGuardConfig } from "../../src/gateway/index.js";
import { aegis } from "../helpers/cli.js";
import { promtoolUnitTest, promtool as runPromtool } from "../helpers/promtool.js";

const modelPath = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));
const example = fileURLToPath(new URL("../../examples/guard.yaml", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "aegis-alerts-"));

const promtool = (args: string[]) => runPromtool(args, tmp);
const unitTest = (name: string, rules: string, tests: object[]) => promtoolUnitTest(tmp, name, rules, tests);

const series = (s: string, values: string) => ({ series: s, values });

test("aegis guard alerts writes promtool-clean rules for the example guard.yaml, with only the alerts its routes need", async () => {
  const r = await aegis(["guard", "alerts", "--config", example, "--out", join(tmp, "example.yml")]);
  assert.equal(r.code, 0, r.stderr);
  const check = await promtool(["check", "rules", "example.yml"]);
  assert.equal(check.code, 0, check.output);
  assert.match(check.output, /SUCCESS: 12 rules found/);

  // A guard with one plain model route: no extraction, upstream or token-budget alerts to raise.
  const plain = join(tmp, "plain.yaml");
  writeFileSync(plain, `auth: { anonymousRoles: [predict] }\nroutes: [{ name: digits, model: ${modelPath} }]\n`);
  const rules = alertRules(loadGuardConfig(plain));
  assert.deepEqual(
    [...rules.matchAll(/alert: (\w+)/g)].map((m) => m[1]),
    ["AegisHighErrorRate", "AegisHighLatencyP99", "AegisClientsBlocked"],
  );
  // A route watching drift adds the drift alert (test/gateway/drift.test.ts fires it on a real guard's series).
  const drifting = join(tmp, "drifting.yaml");
  writeFileSync(drifting, `auth: { anonymousRoles: [predict] }\nroutes: [{ name: digits, model: ${modelPath}, drift: { detector: drift.json } }]\n`);
  writeFileSync(join(tmp, "drifting.yml"), alertRules(loadGuardConfig(drifting)));
  assert.match(readFileSync(join(tmp, "drifting.yml"), "utf8"), /alert: AegisDataDrift\n\s+expr: max by \(route\) \(aegis_drift_detected\) > 0/);
  const checkDrift = await promtool(["check", "rules", "drifting.yml"]);
  assert.equal(checkDrift.code, 0, checkDrift.output);
  assert.match(checkDrift.output, /SUCCESS: 9 rules found/);
  const bad = await aegis(["guard", "alerts", "--config", plain, "--error-ratio", "5"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--error-ratio must be between 0 and 1/);
});

test("each alert fires on the series that should raise it and not on healthy ones (promtool test rules)", async () => {
  const rules = alertRules(loadGuardConfig(example));
  const r = await unitTest("unit", rules, [
    {
      interval: "1m",
      input_series: [
        // mnist-cnn: 10 of every 70 requests a minute fail; chatbot: 10 of 40 are 502 from its upstream.
        series('aegis_requests_total{route="mnist-cnn",status="200",client="a"}', "0+60x30"),
        series('aegis_requests_total{route="mnist-cnn",status="500",client="a"}', "0+10x30"),
        series('aegis_requests_total{route="chatbot",status="200",client="a"}', "0+30x30"),
        series('aegis_requests_total{route="chatbot",status="502",client="a"}', "0+10x30"),
        // A healthy route: no errors, fast.
        series('aegis_requests_total{route="healthy",status="200",client="a"}', "0+100x30"),
        // mnist-cnn's requests all take between 1 and 2.5 s (p99 interpolates to 1 + 0.99 × 1.5 = 2.485 s); healthy's all under 0.1 s.
        series('aegis_request_duration_seconds_bucket{route="mnist-cnn",le="1"}', "0x30"),
        series('aegis_request_duration_seconds_bucket{route="mnist-cnn",le="2.5"}', "0+70x30"),
        series('aegis_request_duration_seconds_bucket{route="mnist-cnn",le="+Inf"}', "0+70x30"),
        series('aegis_request_duration_seconds_bucket{route="healthy",le="0.1"}', "0+100x30"),
        series('aegis_request_duration_seconds_bucket{route="healthy",le="+Inf"}', "0+100x30"),
        // ("a x n" is n + 1 samples.) Two clients blocked from minute 3; PRADA raises one alarm a minute from minute 11; token budgets refuse one prompt a minute from minute 21.
        series("aegis_blocked_clients", "0 0 0 2x27"),
        series('aegis_decisions_total{route="mnist-cnn",control="prada",action="flag",reason="alarm"}', "0x10 1+1x20"),
        series('aegis_decisions_total{route="chatbot",control="token-limit",action="throttle",reason="daily token budget"}', "0x20 1+1x10"),
      ],
      alert_rule_test: [
        { eval_time: "4m", alertname: "AegisHighErrorRate", exp_alerts: [] },
        {
          eval_time: "12m",
          alertname: "AegisHighErrorRate",
          exp_alerts: [
            {
              exp_labels: { severity: "critical", route: "mnist-cnn" },
              exp_annotations: {
                summary: "Route mnist-cnn answers 14.29% of its requests with a 5xx",
                description: "More than 5% of the requests to mnist-cnn failed on the server side for 5 minutes; the guard's log has the causes.",
              },
            },
            {
              exp_labels: { severity: "critical", route: "chatbot" },
              exp_annotations: {
                summary: "Route chatbot answers 25% of its requests with a 5xx",
                description: "More than 5% of the requests to chatbot failed on the server side for 5 minutes; the guard's log has the causes.",
              },
            },
          ],
        },
        {
          eval_time: "12m",
          alertname: "AegisUpstreamErrors",
          exp_alerts: [
            {
              exp_labels: { severity: "critical", route: "chatbot" },
              exp_annotations: {
                summary: "The upstream of chatbot fails 25% of requests",
                description: "Requests to chatbot end in 502 (upstream error), 503 (circuit open) or 504 (upstream timeout); check the upstream.",
              },
            },
          ],
        },
        { eval_time: "9m", alertname: "AegisHighLatencyP99", exp_alerts: [] },
        {
          eval_time: "20m",
          alertname: "AegisHighLatencyP99",
          exp_alerts: [
            {
              exp_labels: { severity: "warning", route: "mnist-cnn" },
              exp_annotations: {
                summary: "Route mnist-cnn p99 latency is 2.485s",
                description: "The 99th percentile of request latency on mnist-cnn stayed above 1 s for 10 minutes.",
              },
            },
          ],
        },
        { eval_time: "3m", alertname: "AegisClientsBlocked", exp_alerts: [] },
        {
          eval_time: "5m",
          alertname: "AegisClientsBlocked",
          exp_alerts: [
            {
              exp_labels: { severity: "warning" },
              exp_annotations: {
                summary: "2 client(s) are blocked by the guard's incident response",
                description:
                  "An incident rule blocked clients; `aegis incidents list --db <auditLog.path> --status open` names them and the detector that fired.",
              },
            },
          ],
        },
        { eval_time: "9m", alertname: "AegisModelExtractionAlarm", exp_alerts: [] },
        {
          eval_time: "13m",
          alertname: "AegisModelExtractionAlarm",
          exp_alerts: [
            {
              exp_labels: { severity: "critical", route: "mnist-cnn", control: "prada" },
              exp_annotations: {
                summary: "The prada detector of mnist-cnn flagged a query stream that looks like model extraction",
                description:
                  "A client's queries to mnist-cnn raised 3 prada alarm(s) in 5 minutes; `aegis incidents list --db <auditLog.path> --status open` names the client.",
              },
            },
          ],
        },
        { eval_time: "19m", alertname: "AegisTokenBudgetExhausted", exp_alerts: [] },
        {
          eval_time: "25m",
          alertname: "AegisTokenBudgetExhausted",
          exp_alerts: [
            {
              exp_labels: { severity: "info", route: "chatbot", action: "throttle", reason: "daily token budget" },
              exp_annotations: {
                summary: "Clients of chatbot ran out of their daily token budget (5 refused in 10 minutes)",
                description:
                  "Prompts to chatbot were refused because a client's token budget was spent; a client that keeps hitting it may be abusing the LLM (OWASP LLM10).",
              },
            },
          ],
        },
      ],
    },
  ]);
  assert.equal(r.code, 0, r.output);
});

/** The value of each series of the named metrics in a /metrics exposition. */
function samples(exposition: string, names: readonly string[]): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of exposition.split("\n")) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && names.includes(m[1])) values.set(m[1] + (m[2] ?? ""), Number(m[3]));
  }
  return values;
}

test("the extraction and blocked-client alerts fire on metrics scraped from a guard while a Jacobian-augmentation extraction runs", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-alerts-guard-"));
  const config = join(dir, "guard.yaml");
  writeFileSync(
    config,
    `server: { port: 0 }
auth: { anonymousRoles: [predict] }
metrics: { public: true }
auditLog: { path: audit.db }
incidents:
  rules: [{ detector: prada, action: block, durationSeconds: 3600 }]
routes:
  - { name: digits, model: ${modelPath}, detectors: { prada: {} } }
`,
  );
  const model = await OnnxClassifier.fromFile(modelPath);
  const seeds = Array.from({ length: 20 }, (_, i) => loadMnist().train.x.data.slice(i * 784, (i + 1) * 784));
  const stream = await jacobianAugmentationStream(model, seeds, 300);
  await model.release();

  const guard = await startGuard(config);
  const watched = ["aegis_decisions_total", "aegis_blocked_clients"];
  // One scrape stands for one minute of Prometheus's scrape interval.
  const scrapes: Map<string, number>[] = [];
  const scrape = async () => scrapes.push(samples(await (await fetch(`${guard.url}/metrics`)).text(), watched));
  let blockedAt: number | undefined;
  try {
    await scrape();
    // 30 queries a minute until the first refusal, then three quiet minutes with the client blocked.
    for (let sent = 0; sent < stream.length && blockedAt === undefined; sent += 10) {
      const res = await fetch(`${guard.url}/v1/models/digits:predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ instances: stream.slice(sent, sent + 10).map((r) => Array.from(r)) }),
      });
      await res.arrayBuffer();
      if (res.status === 403) blockedAt = scrapes.length;
      if ((sent / 10) % 3 === 2) await scrape();
    }
    for (let quiet = 0; quiet < 3; quiet++) await scrape();
  } finally {
    await guard.close();
  }
  assert.ok(blockedAt !== undefined, "PRADA blocked the extraction");
  const alarm = 'aegis_decisions_total{route="digits",control="prada",action="flag",reason="alarm"}';
  assert.equal(scrapes[0].get(alarm), 0, "the alarm series exists from the start, at 0");

  const names = [...new Set(scrapes.flatMap((s) => [...s.keys()]))];
  const inputSeries = names.map((name) => series(name, scrapes.map((s) => s.get(name) ?? "_").join(" ")));
  // The recorded counts decide $value in the annotations; the labels say which alert fired.
  const rules = alertRules(loadGuardConfig(config)).replace(/ {8}annotations:\n( {10}.*\n)+/g, "");
  const last = `${scrapes.length - 1}m`;
  const r = await unitTest("recorded", rules, [
    {
      interval: "1m",
      input_series: inputSeries,
      alert_rule_test: [
        { eval_time: "0m", alertname: "AegisModelExtractionAlarm", exp_alerts: [] },
        { eval_time: "0m", alertname: "AegisClientsBlocked", exp_alerts: [] },
        { eval_time: last, alertname: "AegisModelExtractionAlarm", exp_alerts: [{ exp_labels: { severity: "critical", route: "digits", control: "prada" } }] },
        { eval_time: last, alertname: "AegisClientsBlocked", exp_alerts: [{ exp_labels: { severity: "warning" } }] },
      ],
    },
  ]);
  assert.equal(r.code, 0, `${r.output}\n${stringify(inputSeries)}`);
});
