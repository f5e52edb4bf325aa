/**
 * Request bodies to the model route, through `aegis serve` (fastify inject) and through the
 * guard (a real listening server): JSON `{"instances": …}` and `.npy` batches. Each body
 * must get 200 with predictions, or a documented 4xx with a JSON error whose message holds
 * no internals; never a 5xx. The one-pass JSON reader is checked against JSON.parse on its
 * own in test/gateway/instances-json.test.ts; here it only meets hostile bodies end to end.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { encodeNpy } from "../../../src/data/npy.js";
import { OnnxClassifier } from "../../../src/engine/classifier.js";
import { type RunningGuard, startGuard } from "../../../src/gateway/guard.js";
import { NPY_CONTENT_TYPE } from "../../../src/gateway/model-route.js";
import { createServer } from "../../../src/gateway/server.js";
import { assertNoInternals, FIXTURES, type FuzzTarget, inputsOf, text, withinTimeLimit } from "../harness.js";

const MODEL = join(FIXTURES, "models/tabular_mlp.onnx");
const FEATURES = 12;
const PATH = "/v1/models/m:predict";
/** What the README documents for a request the server refuses: bad input, too large, wrong content type. */
const CLIENT_ERRORS = [400, 404, 413, 415];

let serve: FastifyInstance | undefined;
let classifier: OnnxClassifier | undefined;
let guard: RunningGuard | undefined;
let users = 0;

async function start(): Promise<void> {
  if (users++ > 0) return;
  classifier = await OnnxClassifier.fromFile(MODEL);
  serve = await createServer({ models: [{ name: "m", classifier, maxInstances: 8 }], bodyLimit: 256 * 1024 });
  const dir = mkdtempSync(join(tmpdir(), "aegis-fuzz-guard-"));
  const config = join(dir, "guard.yaml");
  writeFileSync(
    config,
    `server: { host: 127.0.0.1, port: 0, bodyLimit: 262144 }
auth: { anonymousRoles: [predict] }
rateLimit: { perIp: { requestsPerMinute: 1000000 } }
routes:
  - { name: m, model: ${MODEL}, roles: [predict], maxInstances: 8 }
`,
  );
  guard = await startGuard(config);
}

async function stop(): Promise<void> {
  if (--users > 0) return;
  await guard?.close();
  await serve?.close();
  await classifier?.release();
}

function assertAnswer(status: number, body: string, where: string): void {
  let parsed: { predictions?: unknown; error?: { code?: unknown; message?: unknown } };
  try {
    parsed = JSON.parse(body);
  } catch {
    assert.fail(`${where} answered ${status} with a body that is not JSON: ${body.slice(0, 200)}`);
  }
  if (status === 200) {
    assert.ok(Array.isArray(parsed.predictions), `${where} answered 200 without predictions`);
    for (const row of parsed.predictions as unknown[]) assert.ok(Array.isArray(row) && row.every((p) => typeof p === "number" && p >= 0 && p <= 1));
    return;
  }
  assert.ok(CLIENT_ERRORS.includes(status), `${where} answered ${status}: ${body.slice(0, 300)}`);
  assert.equal(typeof parsed.error?.code, "string", `${where}: the error has no code`);
  assert.equal(typeof parsed.error?.message, "string", `${where}: the error has no message`);
  assertNoInternals(parsed.error?.message as string, where);
}

async function expectHttpOutcome(body: Uint8Array, contentType: string): Promise<void> {
  const payload = Buffer.from(body);
  const local = await withinTimeLimit("aegis serve", () => serve!.inject({ method: "POST", url: PATH, headers: { "content-type": contentType }, payload }));
  assertAnswer(local.statusCode, local.body, `aegis serve (${contentType})`);
  const remote = await withinTimeLimit("the guard", async () => {
    const res = await fetch(`${guard!.url}${PATH}`, { method: "POST", headers: { "content-type": contentType }, body: payload });
    return { status: res.status, body: await res.text() };
  });
  assertAnswer(remote.status, remote.body, `the guard (${contentType})`);
}

const row = (v: number) => Array.from({ length: FEATURES }, (_, i) => (i % 3) * v);
const JSON_SEEDS = [{ instances: [row(0.25)] }, { instances: [row(0.5), row(0), row(0.125)] }].map((b) => text(JSON.stringify(b)));

/** Bodies shaped like requests: instances of random shapes and values, extra keys, any JSON. */
const jsonBodies = fc
  .oneof(
    fc.record({ instances: fc.array(fc.array(fc.oneof(fc.double(), fc.integer(), fc.constant(null)), { maxLength: 14 }), { maxLength: 10 }) }),
    fc.record({ instances: fc.array(fc.anything({ maxDepth: 3 }), { maxLength: 4 }) }, { requiredKeys: [] }),
    fc.jsonValue({ maxDepth: 3 }),
  )
  .map((v) => text(JSON.stringify(v) ?? "null"));

export const httpJsonTarget: FuzzTarget = {
  name: "http-json",
  covers: "JSON bodies to the model route of aegis serve and the guard",
  extension: "json",
  runs: 150,
  start,
  stop,
  inputs: () => inputsOf(JSON_SEEDS, ["[", "]", "{", "}", ",", '"instances":', "1e309", "-0", "null", '"', "\\u0000", "[[[[[[[[", "0".repeat(400)], jsonBodies),
  check: (input) => expectHttpOutcome(input, "application/json"),
};

const npyBatch = (rows: number) => encodeNpy({ dtype: "float32", shape: [rows, FEATURES], data: new Float32Array(rows * FEATURES).fill(0.5) });

export const httpNpyTarget: FuzzTarget = {
  name: "http-npy",
  covers: ".npy bodies (application/x-npy) to the model route of aegis serve and the guard",
  extension: "npy",
  runs: 150,
  start,
  stop,
  inputs: () =>
    inputsOf(
      [npyBatch(1), npyBatch(3), encodeNpy({ dtype: "float64", shape: [2, FEATURES], data: new Float64Array(2 * FEATURES) })],
      ["[", "(", "'", "'shape': ", "'|O'", "\\"],
    ),
  check: (input) => expectHttpOutcome(input, NPY_CONTENT_TYPE),
};

export const httpTargets: FuzzTarget[] = [httpJsonTarget, httpNpyTarget];
