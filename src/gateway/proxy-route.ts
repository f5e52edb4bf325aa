/**
 * Routes that forward prediction requests to an upstream ML endpoint after the guard's
 * controls: the body is validated (a JSON Schema given in the config, or derived from
 * the model's input shape) from the text as received, which is also what the upstream
 * gets — never a re-serialisation; the upstream's answer is checked, passed through the same
 * after-prediction hooks as local models, and returned without the upstream's headers.
 * Upstream failures become 502 (error or bad answer), 504 (timeout) or 503 (circuit
 * open), with a JSON error and never the upstream's own error text.
 */
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { type Dispatcher, Pool } from "undici";
import type { Tensor } from "../tensor.js";
import { CircuitBreaker } from "./circuit-breaker.js";
import type { PredictionHook } from "./model-route.js";
import { assertJsonBody, RequestError } from "./validation.js";

export interface ProxyRoute {
  name: string;
  /** Path clients call on the guard, e.g. /v1/models/fraud:predict. */
  path: string;
  /** Upstream base URL; the request goes to the same path there unless upstreamPath is set. */
  upstream: string;
  upstreamPath?: string;
  timeoutMs: number;
  roles?: readonly string[];
  /** Checks the body (a JsonBody: text to read or parse); returns the batch when detectors need the instances. */
  validate?: (body: unknown) => Tensor<"float32"> | undefined;
  /** Whether this request's answer must be parsed for the hooks even without the instances (e.g. a degraded client). */
  mustInspect?: (request: FastifyRequest) => boolean;
  afterPredict?: readonly PredictionHook[];
}

export const proxyRoutes: FastifyPluginAsync<{ routes: readonly ProxyRoute[] }> = async (app, { routes }) => {
  const pools = new Map<string, Pool>();
  app.addHook("onClose", async () => {
    await Promise.all([...pools.values()].map((p) => p.close()));
  });
  for (const route of routes) {
    const origin = new URL(route.upstream).origin;
    const pool = pools.get(origin) ?? new Pool(origin, { connections: 64, pipelining: 1, keepAliveTimeout: 30_000 });
    pools.set(origin, pool);
    const breaker = new CircuitBreaker();
    const upstreamPath = route.upstreamPath ?? route.path;
    const config = { routeName: route.name, roles: route.roles, jsonBodyAsText: true };
    app.post(route.path.replaceAll(":", "::"), { config }, async (request, reply) => {
      const x = route.validate?.(request.body);
      // Without a validator nothing has read the text yet; the upstream still only gets JSON.
      assertJsonBody(request.body);
      if (!breaker.allow())
        throw new RequestError(503, "UPSTREAM_UNAVAILABLE", `the upstream of ${route.name} is failing; the guard stopped sending to it for a few seconds`);
      const started = performance.now();
      let status: number;
      let text: string;
      try {
        ({ status, text } = await exchange(pool, {
          path: upstreamPath,
          method: "POST",
          headers: { "content-type": "application/json", "x-request-id": request.id },
          body: request.aegis.rawBody,
          headersTimeout: route.timeoutMs,
          bodyTimeout: route.timeoutMs,
        }));
      } catch (e) {
        breaker.failure();
        const timedOut = (e as { code?: string }).code === "UND_ERR_HEADERS_TIMEOUT" || (e as { code?: string }).code === "UND_ERR_BODY_TIMEOUT";
        throw timedOut
          ? new RequestError(504, "UPSTREAM_TIMEOUT", `the upstream of ${route.name} did not answer within ${route.timeoutMs} ms`)
          : new RequestError(502, "UPSTREAM_ERROR", `the upstream of ${route.name} could not be reached`);
      } finally {
        request.aegis.upstreamMs = performance.now() - started;
      }
      if (status >= 500) {
        breaker.failure();
        throw new RequestError(502, "UPSTREAM_ERROR", `the upstream of ${route.name} failed (HTTP ${status})`);
      }
      breaker.success();
      if (status >= 400) {
        // The client's mistake, as the upstream saw it: pass the status, not the upstream's text.
        return reply.code(status).send({ error: { code: "UPSTREAM_REJECTED", message: `the upstream of ${route.name} refused the request (HTTP ${status})` } });
      }
      const malformed = () => new RequestError(502, "UPSTREAM_ERROR", `the upstream of ${route.name} did not answer {"predictions": [[numbers]]}`);
      // Nothing to look at in the answer: pass the upstream's bytes on, its headers stay behind.
      if (x === undefined && !route.mustInspect?.(request)) {
        if (!/^\s*\{\s*"predictions"\s*:\s*\[/.test(text)) throw malformed();
        return reply.type("application/json").send(text);
      }
      const probs = predictionsOf(parseJson(text));
      if (!probs) throw malformed();
      let out = probs;
      const batch = x ?? { dtype: "float32" as const, shape: [probs.shape[0], 0], data: new Float32Array(0) };
      for (const hook of route.afterPredict ?? []) out = (await hook(request, batch, out)) ?? out;
      const k = out.shape[1];
      return { predictions: Array.from({ length: out.shape[0] }, (_, i) => Array.from(out.data.subarray(i * k, (i + 1) * k))) };
    });
  }
};

/**
 * One request to the upstream: its status and body as text. A dispatch handler that
 * collects the chunks costs less per request than request(), which wraps every answer
 * in a stream only to read it whole.
 */
function exchange(pool: Pool, options: Dispatcher.DispatchOptions): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    pool.dispatch(options, {
      onRequestStart() {},
      onResponseStart(_controller, statusCode) {
        status = statusCode;
      },
      onResponseData(_controller, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        resolve({ status, text: (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString("utf8") });
      },
      onResponseError(_controller, error) {
        reject(error);
      },
    });
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function predictionsOf(answer: unknown): Tensor<"float32"> | undefined {
  const rows = (answer as { predictions?: unknown })?.predictions;
  if (
    !Array.isArray(rows) ||
    rows.length === 0 ||
    !rows.every((r) => Array.isArray(r) && r.length === rows[0].length && r.every((v) => typeof v === "number"))
  ) {
    return undefined;
  }
  const k = (rows[0] as number[]).length;
  return { dtype: "float32", shape: [rows.length, k], data: Float32Array.from((rows as number[][]).flat()) };
}
