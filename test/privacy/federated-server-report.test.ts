/**
 * The server's round report (server-report.ts): written after every round with the
 * validation numbers the server measured, continued by a restarted server without
 * counting a round twice, escaped, and with findings for an unprotected or regressing
 * federation. The real server writes it in test/cli/fl-hospitals.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildArchitecture, countCorrect, OnnxClassifier } from "../../src/engine/index.js";
import {
  type FederationSetting,
  ROUND_REPORT_FILES,
  type RoundEntry,
  type RoundLog,
  type RoundRecord,
  RoundReport,
  readFlConfig,
  readParameters,
  roundFindings,
  roundsHtml,
  ServerValidation,
  writeParameters,
} from "../../src/privacy/federated/index.js";
import { float32 } from "../../src/tensor.js";
import { schemaValidator } from "../helpers/schemas.js";

const SETTING: FederationSetting = {
  aggregator: "fedavg",
  byzantine: 0,
  secureAggregation: false,
  rounds: 5,
  clientsPerRound: 3,
  minClients: 2,
  deadlineSeconds: 30,
  clients: 3,
  validation: { name: "test.npz", rows: 40 },
};

const record = (round: number, answered = ["a", "b", "c"], attempt = `attempt-${round}`): RoundRecord => ({
  round,
  attempt,
  sampled: ["a", "b", "c"],
  clients: answered,
  examples: 30 * answered.length,
  seconds: 0.5,
});

/** 40 rows of 2 features, class 1 when the first exceeds the second. */
function validationData() {
  const x = Float32Array.from({ length: 80 }, (_, i) => ((i * 37) % 17) / 17);
  const labels = Array.from({ length: 40 }, (_, r) => (x[2 * r] > x[2 * r + 1] ? 1 : 0));
  return { x: float32([40, 2], x), labels };
}

const entry = (round: number, accuracy?: number): RoundEntry => ({
  round,
  attempt: `attempt-${round}`,
  sampled: ["a", "b"],
  answered: ["a", "b"],
  dropped: [],
  retries: 0,
  examples: 60,
  seconds: 1,
  finished: "2026-01-01T00:00:00.000Z",
  ...(accuracy === undefined ? {} : { validation: { accuracy, loss: 0.5 } }),
});

test("after every round the report holds the round and the global model's accuracy on the validation data, as the model scores it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-fl-report-"));
  const model = buildArchitecture("linear", { inputShape: [2], numClasses: 2, seed: 4 });
  const data = validationData();
  const validation = await ServerValidation.create(model, data);
  const report = RoundReport.open(dir, SETTING, [], validation);
  const reference = await OnnxClassifier.create(model, { trainable: true });
  const start = readParameters(reference);
  // Round 2's model decides by x0 − x1 (weights [[−1, 1], [1, −1]], bias 0): every row right.
  const perfect = Float32Array.from([-1, 1, 1, -1, 0, 0]);
  assert.equal(perfect.length, start.length);

  report.retried(1);
  await report.add(record(1, ["a", "b"]), start);
  let log = JSON.parse(readFileSync(join(dir, ROUND_REPORT_FILES.json), "utf8"));
  assert.equal(log.rounds.length, 1);
  assert.deepEqual(log.rounds[0].dropped, ["c"]);
  assert.equal(log.rounds[0].retries, 1);
  writeParameters(reference, start);
  const expected = countCorrect(await reference.predict(data.x), data.labels) / data.labels.length;
  assert.equal(log.rounds[0].validation.accuracy, expected);

  const pending = report.add(record(2), perfect);
  perfect.fill(0); // the report measured the parameters as they were when the round closed
  await pending;
  log = JSON.parse(readFileSync(join(dir, ROUND_REPORT_FILES.json), "utf8"));
  assert.equal(log.rounds[1].validation.accuracy, 1);
  assert.equal(log.rounds[1].retries, 0);
  const html = readFileSync(join(dir, ROUND_REPORT_FILES.html), "utf8");
  assert.equal(html.match(/<tr data-round="\d+">/g)?.length, 2);
  assert.match(html, /100\.0%/);
  await validation.release();
  await reference.release();
});

test("a restarted server continues the report: rounds of the checkpoint keep their numbers, a stale attempt is replaced, a missed round is listed unmeasured", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-fl-report-"));
  const validation = await ServerValidation.create(buildArchitecture("linear", { inputShape: [2], numClasses: 2, seed: 4 }), validationData());
  const first = RoundReport.open(dir, SETTING, [], validation);
  first.setInitial({ accuracy: 0.5, loss: 0.69 });
  await first.add(record(1), new Float32Array(6));
  await first.add(record(2), new Float32Array(6));
  await first.add(record(3, ["a", "b"], "lost-attempt"), new Float32Array(6));
  const before = JSON.parse(readFileSync(join(dir, ROUND_REPORT_FILES.json), "utf8")).rounds as RoundEntry[];

  // The checkpoint knows rounds 1–4; its round 3 is another attempt (the report's was never checkpointed).
  const history = [record(1), record(2), record(3, ["a", "c"]), record(4)];
  const resumed = RoundReport.open(dir, { ...SETTING, secureAggregation: true }, history);
  assert.deepEqual(resumed.rounds.slice(0, 2), before.slice(0, 2));
  assert.ok(before[0].validation, "the first server measured its rounds");
  assert.equal(resumed.rounds[3].validation, undefined, "round 4 closed after the report's last write: listed, not measured");
  assert.deepEqual(resumed.rounds[2].answered, ["a", "c"]);
  assert.equal(resumed.rounds[2].attempt, "attempt-3");
  assert.deepEqual(
    resumed.rounds.map((r) => r.round),
    [1, 2, 3, 4],
  );
  await resumed.add(record(5), new Float32Array(6));
  const log = JSON.parse(readFileSync(join(dir, ROUND_REPORT_FILES.json), "utf8"));
  assert.deepEqual(
    log.rounds.map((r: RoundEntry) => r.round),
    [1, 2, 3, 4, 5],
    "each round once",
  );
  assert.equal(log.setting.secureAggregation, true);
  assert.deepEqual(log.initial, { accuracy: 0.5, loss: 0.69 }, "the initial model's numbers survive the restart");
  const html = readFileSync(join(dir, ROUND_REPORT_FILES.html), "utf8");
  assert.match(html, /<tr data-round="0"><td>0<\/td><td colspan="6">the initial model<\/td><td>50\.0%<\/td>/);
  await validation.release();
});

test("findings: a server that sees the updates, and a validation accuracy more than 5 points below an earlier round", () => {
  const validate = schemaValidator("finding.schema.json");
  const open = roundFindings({ setting: SETTING, rounds: [entry(1, 0.9), entry(2, 0.96), entry(3, 0.92)] });
  assert.deepEqual(
    open.map((f) => f.rule),
    ["FL-SERVER-SEES-UPDATES"],
  );
  for (const f of open) assert.ok(validate(f), JSON.stringify(validate.errors));
  const secure = { ...SETTING, secureAggregation: true };
  assert.deepEqual(roundFindings({ setting: secure, rounds: [entry(1, 0.9), entry(2, 0.96), entry(3, 0.92)] }), []);
  const dropped = roundFindings({ setting: secure, rounds: [entry(1, 0.9), entry(2, 0.96), entry(3), entry(4, 0.9)] });
  assert.deepEqual(
    dropped.map((f) => f.rule),
    ["FL-VALIDATION-DROP"],
  );
  assert.deepEqual(dropped[0].evidence, { best_accuracy: 0.96, best_round: 2, last_accuracy: 0.9, last_round: 4 });
  assert.ok(validate(dropped[0]), JSON.stringify(validate.errors));
});

test("the page escapes client ids and says when no validation data is configured", () => {
  const rogue = { ...entry(1), answered: ['<img src=x onerror="alert(1)">'] };
  const html = roundsHtml({ setting: { ...SETTING, validation: undefined }, rounds: [rogue] });
  assert.ok(!html.includes("<img src=x"), "the id is escaped");
  assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
  assert.match(html, /no validation data configured/);
  assert.equal(html.match(/<svg/g)?.length, 1, "only the answered chart: no accuracy was measured");
});

test("under DP-FedAvg the report carries each round's ε per client, from the server's record, and the page shows it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-fl-report-dp-"));
  const setting = { ...SETTING, dp: { clip: 1, noiseMultiplier: 1.1, delta: 1e-5 } };
  const report = RoundReport.open(dir, setting, []);
  await report.add({ ...record(1), epsilon: 0.41 }, new Float32Array(3));
  await report.add({ ...record(2), epsilon: 0.63 }, new Float32Array(3));
  const log = JSON.parse(readFileSync(join(dir, ROUND_REPORT_FILES.json), "utf8")) as RoundLog;
  assert.deepEqual(
    log.rounds.map((r) => r.epsilon),
    [0.41, 0.63],
  );
  assert.deepEqual(log.setting.dp, setting.dp);
  const html = readFileSync(join(dir, ROUND_REPORT_FILES.html), "utf8");
  assert.match(html, /client-level DP/);
  assert.match(html, /ε 0\.63/);
  assert.match(html, /<th>ε<\/th>/);
  assert.doesNotMatch(roundsHtml({ setting: SETTING, rounds: [entry(1)] }), /client-level DP|<th>ε<\/th>/, "no DP column without DP");
});

test("fl.yaml: validation and report resolve against the file's folder; the report defaults to the checkpoint folder", () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-fl-report-"));
  const base = `model: m.onnx\ntls: { cert: s.crt, key: s.key }\ncheckpoint: state\nclients:\n  a: { tokenSha256: ${"ab".repeat(32)} }\n`;
  const file = join(dir, "fl.yaml");
  writeFileSync(file, base);
  const plain = readFlConfig(file);
  assert.equal(plain.report, join(dir, "state"));
  assert.equal(plain.validation, undefined);
  writeFileSync(file, `${base}validation: data/val.npz\nreport: reports/rounds\n`);
  const configured = readFlConfig(file);
  assert.equal(configured.validation, join(dir, "data", "val.npz"));
  assert.equal(configured.report, join(dir, "reports", "rounds"));
});
