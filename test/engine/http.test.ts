import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { HttpPredictor, type HttpPredictorOptions, parsePath } from "../../src/engine/http.js";
import { AegisError } from "../../src/errors.js";
import { float32, type Tensor } from "../../src/tensor.js";

// A fixed linear model over 2×2 inputs (4 features) with 3 classes.
const W = [
  [1, -2, 0.5, 3],
  [-1, 0, 2, -0.25],
  [0.5, 1, -1, 0],
];
const B = [0.1, -0.2, 0.3];

function logitsOf(features: readonly number[]): number[] {
  return W.map((w, k) => w.reduce((s, wi, i) => s + wi * features[i], B[k]));
}

function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function argmax(v: readonly number[]): number {
  return v.indexOf(Math.max(...v));
}

/** Instances arrive as [N][2][2]; anything else is a client bug the server reports as 400. */
function featuresOf(instances: unknown): number[][] {
  if (!Array.isArray(instances)) throw new Error("instances is not an array");
  return instances.map((s) => {
    if (!Array.isArray(s) || s.length !== 2 || !s.every((r) => Array.isArray(r) && r.length === 2 && r.every((v) => typeof v === "number"))) {
      throw new Error(`bad instance ${JSON.stringify(s)}`);
    }
    return (s as number[][]).flat();
  });
}

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body: unknown;
}

type Handler = (request: { body: unknown; headers: IncomingMessage["headers"]; call: number }) => Reply | Promise<Reply>;

interface TestServer {
  url: string;
  calls: number;
  maxInFlight: number;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(handler: Handler, path = "/predict"): Promise<TestServer> {
  let inFlight = 0;
  const state = { url: "", calls: 0, maxInFlight: 0 } as TestServer;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const call = state.calls++;
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        body = undefined;
      }
      let reply: Reply;
      try {
        reply = await handler({ body, headers: req.headers, call });
      } catch (e) {
        reply = { status: 400, body: { error: (e as Error).message } };
      }
      const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
      res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers });
      res.end(text);
    } finally {
      inFlight--;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}${path}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  servers.push(state);
  return state;
}

/** Softmax of the linear model, answered KServe / TF-Serving style. */
const softmaxHandler: Handler = ({ body }) => {
  const instances = (body as { instances?: unknown })?.instances;
  return { body: { predictions: featuresOf(instances).map((f) => softmax(logitsOf(f))) } };
};

function samples(n: number): Tensor<"float32"> {
  const data = new Float32Array(n * 4);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 37) % 11) / 10;
  return float32([n, 2, 2], data);
}

function rowsOf(x: Tensor<"float32">): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < x.shape[0]; i++) out.push(Array.from(x.data.subarray(i * 4, i * 4 + 4)));
  return out;
}

/** What the client must return: the server's float64 numbers rounded once to float32. */
function expected(x: Tensor<"float32">, f: (features: number[]) => number[]): Float32Array {
  return Float32Array.from(rowsOf(x).flatMap(f));
}

function predictor(url: string, options: Partial<HttpPredictorOptions> = {}): HttpPredictor {
  return new HttpPredictor({ url, inputShape: [2, 2], numClasses: 3, retryBaseMs: 1, ...options });
}

async function rejectsWith(promise: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<AegisError> {
  let caught: unknown;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof AegisError, `expected an AegisError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

test("softmax of a linear model comes back exactly, in order, as float32 [N, numClasses]", async () => {
  const server = await serve(softmaxHandler);
  const model = predictor(server.url, { batchSize: 4 });
  const x = samples(10);
  const y = await model.predict(x);
  assert.deepEqual(y.shape, [10, 3]);
  assert.equal(y.dtype, "float32");
  assert.deepEqual(
    y.data,
    expected(x, (f) => softmax(logitsOf(f))),
  );
  assert.equal(model.outputKind, "probs");
  assert.deepEqual(model.clipRange, [0, 1]);

  // A hand-checked row: zero input leaves the bias, softmax([0.1, -0.2, 0.3]).
  const zero = await model.predict(float32([1, 2, 2]));
  const e = [Math.exp(0.1), Math.exp(-0.2), Math.exp(0.3)];
  const s = e[0] + e[1] + e[2];
  assert.deepEqual(Array.from(zero.data), [Math.fround(e[0] / s), Math.fround(e[1] / s), Math.fround(e[2] / s)]);
});

test("logits pass through exactly", async () => {
  const server = await serve(({ body }) => ({ body: { predictions: featuresOf((body as { instances: unknown }).instances).map(logitsOf) } }));
  const model = predictor(server.url, { outputKind: "logits" });
  const y = await model.predict(float32([2, 2, 2], [1, 0, 0, 0, 0.5, 0.25, 1, 2]));
  // 1·row 0 of W + B, then W·[0.5, 0.25, 1, 2] + B.
  assert.deepEqual(Array.from(y.data), [1.1, -1.2, 0.8, 6.6, 0.8, -0.2].map(Math.fround));
  assert.equal(model.outputKind, "logits");
});

test("headers are sent and the caller's override the defaults", async () => {
  const seen: IncomingMessage["headers"][] = [];
  const server = await serve((r) => {
    seen.push(r.headers);
    return softmaxHandler(r);
  });
  const model = predictor(server.url, { headers: { Authorization: "Bearer t0ken", "X-Trace": "1" } });
  await model.predict(samples(1));
  assert.equal(seen[0].authorization, "Bearer t0ken");
  assert.equal(seen[0]["x-trace"], "1");
  assert.equal(seen[0]["content-type"], "application/json");
});

test("custom request template and response path", async () => {
  const server = await serve(({ body }) => {
    const b = body as { inputs?: { data?: unknown }; model?: unknown };
    assert.equal(b.model, "v2");
    return { body: { result: { outputs: featuresOf(b.inputs?.data).map((f) => softmax(logitsOf(f))) } } };
  });
  const model = predictor(server.url, {
    requestTemplate: { model: "v2", inputs: { data: "$instances" } },
    responsePath: "result.outputs",
  });
  const x = samples(5);
  assert.deepEqual(
    (await model.predict(x)).data,
    expected(x, (f) => softmax(logitsOf(f))),
  );
});

test("response path with an index, and a bare array as the request body", async () => {
  const server = await serve(({ body }) => ({
    body: { outputs: [{ name: "probs", data: featuresOf(body).map((f) => softmax(logitsOf(f))) }] },
  }));
  const model = predictor(server.url, { requestTemplate: "$instances", responsePath: "outputs[0].data" });
  const x = samples(3);
  assert.deepEqual(
    (await model.predict(x)).data,
    expected(x, (f) => softmax(logitsOf(f))),
  );
});

test("an empty response path takes the body itself", async () => {
  const server = await serve(({ body }) => ({ body: featuresOf((body as { instances: unknown }).instances).map((f) => softmax(logitsOf(f))) }));
  const model = predictor(server.url, { responsePath: "" });
  const x = samples(2);
  assert.deepEqual(
    (await model.predict(x)).data,
    expected(x, (f) => softmax(logitsOf(f))),
  );
});

test("scoresField picks the scores out of per-sample objects", async () => {
  const server = await serve(({ body }) => ({
    body: {
      predictions: featuresOf((body as { instances: unknown }).instances).map((f) => {
        const p = softmax(logitsOf(f));
        return { label: argmax(p), probabilities: p };
      }),
    },
  }));
  const x = samples(4);
  const model = predictor(server.url, { scoresField: "probabilities" });
  assert.deepEqual(
    (await model.predict(x)).data,
    expected(x, (f) => softmax(logitsOf(f))),
  );

  // A label field works too, as one-hot rows.
  const labels = predictor(server.url, { scoresField: "label" });
  assert.deepEqual(
    (await labels.predict(x)).data,
    expected(x, (f) => [0, 1, 2].map((k) => (k === argmax(logitsOf(f)) ? 1 : 0))),
  );

  // Objects without scoresField say which field to pick.
  await rejectsWith(predictor(server.url).predict(x), "TARGET_ERROR", /scoresField/, /label, probabilities/);
});

test("label-only responses become one-hot rows", async () => {
  const server = await serve(({ body }) => ({ body: { predictions: featuresOf((body as { instances: unknown }).instances).map((f) => argmax(logitsOf(f))) } }));
  const x = samples(6);
  const y = await predictor(server.url).predict(x);
  assert.deepEqual(y.shape, [6, 3]);
  const want = expected(x, (f) => [0, 1, 2].map((k) => (k === argmax(logitsOf(f)) ? 1 : 0)));
  assert.deepEqual(y.data, want);
  assert.ok(new Set(rowsOf(x).map((f) => argmax(logitsOf(f)))).size > 1, "the fixture should cover more than one class");

  // Labels cannot reveal how many classes there are.
  await rejectsWith(predictor(server.url, { numClasses: undefined }).predict(x), "BAD_OPTION", /pass numClasses/);
});

test("a label outside the classes is a target error", async () => {
  const server = await serve(() => ({ body: { predictions: [7] } }));
  await rejectsWith(predictor(server.url).predict(samples(1)), "TARGET_ERROR", /label 7/, /check numClasses/);
});

test("numClasses is learned from the first response when omitted", async () => {
  const server = await serve(softmaxHandler);
  const model = predictor(server.url, { numClasses: undefined, batchSize: 2 });
  assert.throws(
    () => model.numClasses,
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && /pass numClasses/.test(e.message),
  );
  const y = await model.predict(samples(5));
  assert.equal(model.numClasses, 3);
  assert.deepEqual(y.shape, [5, 3]);
});

test("a given numClasses that disagrees with the endpoint is caught", async () => {
  const server = await serve(softmaxHandler);
  await rejectsWith(predictor(server.url, { numClasses: 4 }).predict(samples(2)), "TARGET_ERROR", /3 score\(s\) for sample 0 where 4 were expected/);
});

test("queries count samples and requests count HTTP calls", async () => {
  const server = await serve(softmaxHandler);
  const model = predictor(server.url, { batchSize: 3 });
  await model.predict(samples(10));
  assert.equal(model.requests, 4);
  assert.equal(model.queries, 10);
  assert.equal(server.calls, 4);
  await model.predict(samples(2));
  assert.equal(model.requests, 5);
  assert.equal(model.queries, 12);
  model.resetCounts();
  assert.equal(model.requests, 0);
  assert.equal(model.queries, 0);
});

test("no more requests are in flight than the concurrency limit, across calls", async () => {
  const server = await serve(async (r) => {
    await new Promise((resolve) => setTimeout(resolve, 15));
    return softmaxHandler(r);
  });
  const model = predictor(server.url, { batchSize: 1, concurrency: 3 });
  const x = samples(12);
  const [a, b] = await Promise.all([model.predict(x), model.predict(x)]);
  assert.equal(server.maxInFlight, 3);
  assert.equal(server.calls, 24);
  const want = expected(x, (f) => softmax(logitsOf(f)));
  assert.deepEqual(a.data, want);
  assert.deepEqual(b.data, want);
});

test("503 is retried until it succeeds", async () => {
  const server = await serve((r) => (r.call < 2 ? { status: 503, body: { error: "warming up" } } : softmaxHandler(r)));
  const model = predictor(server.url);
  const x = samples(3);
  assert.deepEqual(
    (await model.predict(x)).data,
    expected(x, (f) => softmax(logitsOf(f))),
  );
  assert.equal(model.requests, 3);
  assert.equal(model.queries, 3);
});

test("429 with Retry-After: 0 is retried", async () => {
  const server = await serve((r) => (r.call === 0 ? { status: 429, headers: { "retry-after": "0" }, body: { error: "slow down" } } : softmaxHandler(r)));
  // A large backoff base proves Retry-After is what set the wait: the test would time out otherwise.
  const model = predictor(server.url, { retryBaseMs: 60_000 });
  const x = samples(2);
  assert.deepEqual(
    (await model.predict(x)).data,
    expected(x, (f) => softmax(logitsOf(f))),
  );
  assert.equal(model.requests, 2);
});

test("a Retry-After longer than retryMaxMs ends the call instead of hanging", async () => {
  const server = await serve(() => ({ status: 429, headers: { "retry-after": "3600" }, body: "" }));
  const model = predictor(server.url, { retryMaxMs: 1000 });
  await rejectsWith(model.predict(samples(1)), "TARGET_ERROR", /asks to wait 3600 s/);
  assert.equal(model.requests, 1);
});

test("retries run out on a persistent 5xx", async () => {
  const server = await serve(() => ({ status: 500, body: { error: "boom" } }));
  const model = predictor(server.url, { retries: 2 });
  await rejectsWith(model.predict(samples(1)), "TARGET_ERROR", /HTTP 500/, /after 3 attempt/, /boom/);
  assert.equal(server.calls, 3);
});

test("a 400 is not retried and its message is surfaced", async () => {
  const server = await serve(() => ({ status: 400, body: { error: "expected 784 features per instance" } }));
  const model = predictor(server.url);
  await rejectsWith(model.predict(samples(2)), "TARGET_ERROR", /HTTP 400/, /expected 784 features per instance/, /requestTemplate/);
  assert.equal(server.calls, 1);
  assert.equal(model.requests, 1);
});

test("a 401 points at the credentials", async () => {
  const server = await serve(() => ({ status: 401, body: { error: "no token" } }));
  await rejectsWith(predictor(server.url).predict(samples(1)), "TARGET_ERROR", /HTTP 401/, /Authorization/);
});

test("a body over the endpoint's limit (413) is sent again in halves, and later batches at that size", async () => {
  // The endpoint takes at most 5 instances per request, as a body limit would.
  const sizes: number[] = [];
  const server = await serve(({ body }) => {
    const instances = (body as { instances: unknown[] }).instances;
    sizes.push(instances.length);
    if (instances.length > 5) return { status: 413, body: { error: "request body is too large" } };
    return softmaxHandler({ body, headers: {}, call: 0 });
  });
  const model = predictor(server.url, { batchSize: 16, concurrency: 1 });
  const x = samples(16);
  const y = await model.predict(x);
  assert.deepEqual(
    y.data,
    expected(x, (f) => softmax(logitsOf(f))),
  );
  // 16 refused, 8 refused, then 4 + 4 + 4 + 4 at the cap of 4.
  assert.deepEqual(sizes, [16, 8, 4, 4, 4, 4]);
  assert.equal(model.queries, 16, "samples are counted once, however often they were re-sent");
  const more = samples(12);
  assert.deepEqual(
    (await model.predict(more)).data,
    expected(more, (f) => softmax(logitsOf(f))),
  );
  assert.deepEqual(sizes.slice(6), [4, 4, 4], "later batches start at the size the endpoint took");
});

test("a single sample over the endpoint's limit is a target error that says to raise it", async () => {
  const server = await serve(() => ({ status: 413, body: { error: "request body is too large" } }));
  await rejectsWith(predictor(server.url, { batchSize: 4 }).predict(samples(3)), "TARGET_ERROR", /HTTP 413/, /body limit/);
  assert.equal(server.calls, 3, "3 samples, then 2, then 1");
});

test("the query budget stops a call before it is sent", async () => {
  const server = await serve(softmaxHandler);
  const model = predictor(server.url, { batchSize: 4, maxQueries: 10 });
  await model.predict(samples(6));
  assert.equal(model.queries, 6);
  await rejectsWith(model.predict(samples(5)), "TARGET_ERROR", /query budget is spent/, /maxQueries=10/);
  assert.equal(model.queries, 6);
  assert.equal(server.calls, 2);
  await model.predict(samples(4));
  assert.equal(model.queries, 10);
  await rejectsWith(model.predict(samples(1)), "TARGET_ERROR", /query budget is spent/);
  model.resetCounts();
  await model.predict(samples(1));
  assert.equal(model.queries, 1);
});

test("the query budget holds per request when calls run concurrently", async () => {
  const server = await serve(softmaxHandler);
  const model = predictor(server.url, { batchSize: 3, maxQueries: 10 });
  // Each call fits on its own (6 ≤ 10); together they do not.
  const results = await Promise.allSettled([model.predict(samples(6)), model.predict(samples(6))]);
  const rejected = results.filter((r) => r.status === "rejected");
  assert.equal(rejected.length, 1);
  const reason = (rejected[0] as PromiseRejectedResult).reason;
  assert.ok(reason instanceof AegisError && reason.code === "TARGET_ERROR" && /query budget is spent/.test(reason.message));
  assert.ok(model.queries <= 10, `sent ${model.queries} samples`);
});

test("malformed bodies are target errors that quote at most 200 characters", async () => {
  const long = `<html>${"x".repeat(500)}</html>`;
  const bodies: Array<[unknown, RegExp]> = [
    [long, /not JSON/],
    [{ predictions: [[0.1, 0.2, 0.7]] }, /1 output\(s\) in predictions for 2 sample\(s\)/],
    [
      {
        predictions: [
          [0.1, 0.2, 0.7],
          [0.5, 0.5],
        ],
      },
      /2 score\(s\) for sample 1 where 3 were expected/,
    ],
    [
      {
        predictions: [
          [0.1, "a", 0.7],
          [0.2, 0.3, 0.5],
        ],
      },
      /output 0 that is neither/,
    ],
    [
      {
        predictions: [
          [0.1, null, 0.7],
          [0.2, 0.3, 0.5],
        ],
      },
      /output 0 that is neither/,
    ],
    [{ predictions: { a: 1 } }, /predictions not an array/],
    [{ result: [] }, /no predictions in its body/],
  ];
  for (const [body, pattern] of bodies) {
    const server = await serve(() => ({ body }));
    const error = await rejectsWith(predictor(server.url).predict(samples(2)), "TARGET_ERROR", pattern);
    const quoted = /'(.*)'/.exec(error.message)?.[1] ?? "";
    assert.ok(quoted.replace(/…$/, "").length <= 200, error.message);
    if (typeof body === "string") assert.ok(error.message.includes(body.slice(0, 100)) && !error.message.includes(body));
    await server.close();
  }
});

test("learned vector lengths must agree across responses", async () => {
  const server = await serve((r) =>
    r.call === 0
      ? {
          body: {
            predictions: [
              [0.5, 0.5],
              [0.5, 0.5],
            ],
          },
        }
      : { body: { predictions: [[0.2, 0.3, 0.5]] } },
  );
  const model = predictor(server.url, { numClasses: undefined, batchSize: 2 });
  await model.predict(samples(2));
  assert.equal(model.numClasses, 2);
  await rejectsWith(model.predict(samples(1)), "TARGET_ERROR", /3 score\(s\) for sample 0 where 2 were expected/);
});

test("connection refused names the URL and says to check the endpoint", async () => {
  const server = await serve(softmaxHandler);
  const url = server.url;
  await server.close();
  const model = predictor(url, { retries: 1 });
  await rejectsWith(
    model.predict(samples(1)),
    "TARGET_ERROR",
    new RegExp(url.replace(/[.:/]/g, "\\$&")),
    /connection refused/,
    /check that the endpoint is up/,
  );
  assert.equal(model.requests, 2);
});

test("a slow endpoint times out", async () => {
  const server = await serve(async (r) => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return softmaxHandler(r);
  });
  const model = predictor(server.url, { timeoutMs: 30, retries: 0 });
  await rejectsWith(model.predict(samples(1)), "TARGET_ERROR", /did not answer within 30 ms/);
});

test("the query string is left out of messages", async () => {
  const server = await serve(() => ({ status: 400, body: "bad" }));
  const error = await rejectsWith(predictor(`${server.url}?key=s3cret`).predict(samples(1)), "TARGET_ERROR");
  assert.ok(!error.message.includes("s3cret"));
});

test("inputs of the wrong shape or with NaN are refused before any request", async () => {
  const server = await serve(softmaxHandler);
  const model = predictor(server.url);
  await rejectsWith(model.predict(float32([2, 4])), "SHAPE_MISMATCH", /\[N, 2, 2\]/);
  await rejectsWith(model.predict(float32([1, 2, 2], [0, Number.NaN, 0, 0])), "NON_FINITE");
  assert.equal(server.calls, 0);
  assert.deepEqual((await model.predict(float32([0, 2, 2]))).shape, [0, 3]);
});

test("bad options are BAD_OPTION errors", () => {
  const bad: Array<[Partial<HttpPredictorOptions>, RegExp]> = [
    [{ url: "not a url" }, /not a valid URL/],
    [{ url: "ftp://127.0.0.1/x" }, /http:\/\//],
    [{ url: "http://u:p@127.0.0.1/x" }, /headers/],
    [{ inputShape: [2, 0] }, /inputShape/],
    [{ numClasses: 1 }, /at least 2 classes/],
    [{ clipRange: [1, 0] }, /clipRange/],
    [{ outputKind: "scores" as "probs" }, /outputKind/],
    [{ requestTemplate: { inputs: "instances" } }, /\$instances/],
    [{ responsePath: "a..b" }, /responsePath/],
    [{ responsePath: "a[x]" }, /responsePath/],
    [{ scoresField: "" }, /scoresField/],
    [{ batchSize: 0 }, /batchSize/],
    [{ concurrency: 1.5 }, /concurrency/],
    [{ retries: -1 }, /retries/],
    [{ timeoutMs: 0 }, /timeoutMs/],
    [{ maxQueries: -5 }, /maxQueries/],
  ];
  for (const [options, pattern] of bad) {
    assert.throws(
      () => predictor("http://127.0.0.1:9/predict", options),
      (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && pattern.test(e.message),
      JSON.stringify(options),
    );
  }
});

test("response paths parse into fields and indices", () => {
  assert.deepEqual(parsePath("predictions"), ["predictions"]);
  assert.deepEqual(parsePath("result.outputs"), ["result", "outputs"]);
  assert.deepEqual(parsePath("outputs[0].data"), ["outputs", 0, "data"]);
  assert.deepEqual(parsePath("[1][2]"), [1, 2]);
  assert.deepEqual(parsePath(""), []);
});
