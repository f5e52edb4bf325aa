/**
 * Routes in front of an OpenAI-compatible LLM endpoint (`/chat/completions`,
 * `/completions`, `/embeddings`, `/models`). A prompt is first read (llm-request.ts): its
 * shape checked against the OpenAI API, the route's bounds applied, every text the model
 * reads collected — before anything costly. Its tokens are then charged to the client's
 * budgets, counted with a real BPE tokenizer, and only then do the input scanners run, one
 * scan per message: blocking scanners (prompt injection, smuggled text…) refuse the
 * request with 400, transforming ones (PII, secrets) anonymise it so the upstream never
 * sees the values. Answers pass the output scanners: leaks of the system prompt and unsafe
 * markup are withheld (finish_reason "content_filter"), secrets and foreign PII redacted,
 * the user's own values restored — in the text of every choice and in the arguments of tool
 * calls, streamed or not (llm-answer.ts).
 */
import type { PassThrough } from "node:stream";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { RateLimiterRes } from "rate-limiter-flexible";
import { type Dispatcher, getGlobalDispatcher, Pool } from "undici";
import type { Detection, Pipeline, ScanContext } from "../llm/index.js";
import { countTokens } from "../llm/index.js";
import { clientId } from "./context.js";
import { type AnswerKind, scannedStream, scanWholeAnswer } from "./llm-answer.js";
import { chatUnits, completionUnits, embeddingUnits, joinUnit, messageText, type RequestBounds, readBody, type ScanUnit } from "./llm-request.js";
import { type LimiterFactory, memoryLimiterFactory } from "./store/index.js";
import { RequestError } from "./validation.js";

export interface LlmRoute {
  name: string;
  /** Upstream origin, e.g. http://127.0.0.1:8000 (vLLM) or https://api.openai.com. */
  upstream: string;
  /** Path prefix on both sides (default /v1). */
  prefix: string;
  /** Sent upstream as the bearer token; the client's own credentials never are. */
  apiKey?: string;
  roles?: readonly string[];
  timeoutMs: number;
  /** The scanner pipelines; each knows its blocking scanners (the others only transform and record). */
  input: Pipeline;
  output: Pipeline;
  /** Scans tool and function messages after the input pipeline: instructions aimed at the assistant inside content no user typed. */
  documents: Pipeline;
  systemPrompt?: string;
  canaries?: readonly string[];
  tokensPerMinute?: number;
  tokenBudgetPerDay?: number;
  /** What a request may carry and how much text the scanners read of it. */
  bounds: RequestBounds;
  /** Wall-clock time the input scanners may spend on one request. */
  scanTimeoutMs: number;
}

/** Messages whose content no user typed: what tools returned, which is where indirect injections arrive. */
const DOCUMENT_ROLES = new Set(["tool", "function"]);

/** The OpenAI model list of an LLM route, for the guard to serve or merge into another list. */
export interface ModelCatalog {
  list(request: FastifyRequest): Promise<{ object: "list"; data: unknown[] }>;
  retrieve(request: FastifyRequest, id: string): Promise<unknown>;
}

export const llmRoutes: FastifyPluginAsync<{
  routes: readonly LlmRoute[];
  limiters?: LimiterFactory;
  /** A prefix whose `/models` another plugin serves (the model server's /v1/models, which merges this route's catalog in). */
  modelsServedElsewhere?: string;
}> = async (app, { routes, limiters = memoryLimiterFactory, modelsServedElsewhere }) => {
  const pools: Pool[] = [];
  app.addHook("onClose", async () => {
    await Promise.all(pools.map((p) => p.close()));
  });
  for (const route of routes) {
    const pool = new Pool(route.upstream, { connections: 32 });
    pools.push(pool);
    const budgets = [
      route.tokensPerMinute && {
        limiter: limiters(`tpm:${route.name}`, route.tokensPerMinute),
        points: route.tokensPerMinute,
        what: "per-minute token budget",
      },
      route.tokenBudgetPerDay && {
        limiter: limiters(`tpd:${route.name}`, route.tokenBudgetPerDay, 86_400),
        points: route.tokenBudgetPerDay,
        what: "daily token budget",
      },
    ].filter((b) => !!b);
    // The body arrives as text: readBody bounds its structure before JSON.parse.
    const config = { routeName: route.name, roles: route.roles, jsonBodyAsText: true };

    /** Charges a prompt's tokens before anything scans it, so a client past its budget costs no scanning. */
    const chargePrompt = async (request: FastifyRequest, reply: FastifyReply, units: readonly ScanUnit[]) => {
      if (budgets.length === 0) return;
      const tokens = countTokens(units.flatMap((u) => u.pieces.map((p) => p.text)).join("\n"));
      if (tokens === 0) return;
      const client = clientId(request.aegis, request.ip);
      for (const { points, what } of budgets) {
        if (tokens > points) {
          request.aegis.decisions.push({ control: "token-limit", action: "block", reason: what });
          throw new RequestError(413, "TOKEN_LIMIT", `this request's ${tokens} prompt tokens exceed the client's whole ${what} of ${points}; send less text`);
        }
      }
      let charged = 0;
      try {
        for (const { limiter } of budgets) {
          await limiter.consume(client, tokens);
          charged++;
        }
      } catch (e) {
        if (!(e instanceof RateLimiterRes)) throw e;
        // consume() counted the refused tokens too: a refused prompt costs nothing.
        await Promise.all(budgets.slice(0, charged + 1).map((b) => b.limiter.reward(client, tokens)));
        const { points, what } = budgets[charged];
        const left = Math.max(0, points - (e.consumedPoints - tokens));
        const seconds = Math.max(1, Math.ceil(e.msBeforeNext / 1000));
        request.aegis.decisions.push({ control: "token-limit", action: "throttle", reason: what });
        reply.header("retry-after", String(seconds));
        throw new RequestError(
          429,
          "TOKEN_LIMIT",
          left === 0
            ? `the client's ${what} of ${points} tokens is spent; retry after ${seconds} s`
            : `the client's ${what} of ${points} tokens has ${left} left and this request's prompt needs ${tokens}; retry after ${seconds} s`,
        );
      }
    };

    /** Completion tokens are charged after the fact: never refused, they count against the next prompts. */
    const chargeCompletion = async (request: FastifyRequest, tokens: number) => {
      if (tokens === 0) return;
      const client = clientId(request.aegis, request.ip);
      for (const { limiter } of budgets) {
        await limiter.consume(client, tokens).catch((e: unknown) => {
          if (!(e instanceof RateLimiterRes)) throw e;
        });
      }
    };

    /** Scans every unit, in place; refuses on a blocking finding or once the route's scan time is spent. */
    const scanPrompts = async (request: FastifyRequest, units: readonly ScanUnit[], context: ScanContext) => {
      const deadline = performance.now() + route.scanTimeoutMs;
      for (const unit of units) {
        const joined = joinUnit(unit);
        let result = await route.input.scan(joined.text, context);
        if (DOCUMENT_ROLES.has(unit.role ?? "")) {
          // Context mode reads the text as a document that may address the assistant; its findings join the input's.
          const asDocument = await route.documents.scan(result.text, context);
          result = { ...asDocument, findings: [...result.findings, ...asDocument.findings] };
        }
        const blocking = result.findings.filter((f) => blocks(route, f, unit.role));
        record(request, "llm-input", result.findings, route.input.block, blocking);
        if (blocking.length > 0) {
          throw new RequestError(400, "PROMPT_REJECTED", `the prompt was refused at ${unit.where}: ${describeFindings(blocking)}`);
        }
        joined.writeBack(result.text);
        if (performance.now() > deadline) {
          request.aegis.decisions.push({ control: "llm-input", action: "block", reason: "scan-time" });
          throw new RequestError(
            422,
            "SCAN_TIME_EXCEEDED",
            `scanning the prompt took longer than the route's scanTimeoutMs (${route.scanTimeoutMs} ms; stopped after ${unit.where}); send fewer or shorter messages`,
          );
        }
      }
    };

    const forward = async (request: FastifyRequest, body: unknown) => {
      const started = performance.now();
      try {
        return await pool.request({
          path: request.url.split("?")[0],
          method: "POST",
          headers: { "content-type": "application/json", "x-request-id": request.id, ...upstreamAuth(route) },
          body: JSON.stringify(body),
          headersTimeout: route.timeoutMs,
          bodyTimeout: route.timeoutMs,
        });
      } catch (e) {
        throw unreachable(route, e);
      } finally {
        request.aegis.upstreamMs = performance.now() - started;
      }
    };

    const upstreamError = async (status: number, body: { text(): Promise<string> }) => {
      await body.text().catch(() => "");
      if (status >= 500) throw new RequestError(502, "UPSTREAM_ERROR", `the LLM behind ${route.name} failed (HTTP ${status})`);
      throw new RequestError(status, "UPSTREAM_REJECTED", `the LLM behind ${route.name} refused the request (HTTP ${status})`);
    };

    for (const kind of ["chat/completions", "completions"] as const) {
      app.post(`${route.prefix}/${kind}`, { config }, async (request, reply) => {
        const body = readBody(request.body, route.bounds);
        const units = kind === "completions" ? completionUnits(body, route.bounds) : chatUnits(body, route.bounds);
        await chargePrompt(request, reply, units);
        const context: ScanContext = { vault: new Map(), systemPrompt: route.systemPrompt, canaries: route.canaries };
        await scanPrompts(request, units, context);
        context.prompt = kind === "completions" ? String(body.prompt) : lastUserText(body.messages as unknown[]);
        const res = await forward(request, body);
        if (res.statusCode !== 200) return upstreamError(res.statusCode, res.body);
        if (body.stream === true) {
          reply.header("content-type", "text/event-stream").header("cache-control", "no-cache");
          return reply.send(streamAnswer(request, res.body, kind, context));
        }
        const answer = (await res.body.json().catch(() => undefined)) as
          | { choices?: Record<string, unknown>[]; usage?: { completion_tokens?: number } }
          | undefined;
        if (!Array.isArray(answer?.choices)) throw new RequestError(502, "UPSTREAM_ERROR", `the LLM behind ${route.name} did not answer in the OpenAI format`);
        const produced = await scanWholeAnswer(answer.choices, kind, (text) => scanAnswer(request, text, context));
        await chargeCompletion(request, answer.usage?.completion_tokens ?? (budgets.length > 0 ? countTokens(produced) : 0));
        return answer;
      });
    }

    app.post(`${route.prefix}/embeddings`, { config }, async (request, reply) => {
      const body = readBody(request.body, route.bounds);
      const units = embeddingUnits(body, route.bounds);
      await chargePrompt(request, reply, units);
      await scanPrompts(request, units, { vault: new Map() });
      const res = await forward(request, body);
      if (res.statusCode !== 200) return upstreamError(res.statusCode, res.body);
      return res.body.json();
    });

    if (route.prefix !== modelsServedElsewhere) {
      const catalog = modelCatalog(route, pool);
      app.get(`${route.prefix}/models`, { config }, async (request) => catalog.list(request));
      app.get(`${route.prefix}/models/:model`, { config }, async (request) => catalog.retrieve(request, (request.params as { model: string }).model));
    }

    /** Output scan of a whole answer: the text to send and whether it was withheld. */
    const scanAnswer = async (request: FastifyRequest, text: string, context: ScanContext) => {
      const result = await route.output.scan(text, context);
      const blocking = result.findings.filter((f) => route.output.block.has(f.scanner));
      record(request, "llm-output", result.findings, route.output.block, blocking);
      if (blocking.length > 0) return { text: `[withheld by Aegis: ${describeFindings(blocking)}]`, withheld: true };
      return { text: result.text, withheld: false };
    };

    /** The client's event stream, written as the upstream's arrives (the audit entry is written before its first byte). */
    const streamAnswer = (request: FastifyRequest, upstream: AsyncIterable<Buffer>, kind: AnswerKind, context: ScanContext): PassThrough =>
      scannedStream(
        upstream,
        kind,
        (text) => scanAnswer(request, text, context),
        (e) => request.log.error(e, "the LLM stream failed"),
        async (produced, usage) => {
          if (budgets.length > 0) await chargeCompletion(request, usage?.completion_tokens ?? countTokens(produced));
        },
      );
  }
};

function upstreamAuth(route: LlmRoute): Record<string, string> {
  return route.apiKey ? { authorization: `Bearer ${route.apiKey}` } : {};
}

/** The error for an upstream that did not answer: 504 when it timed out, 502 otherwise. */
function unreachable(route: LlmRoute, e: unknown): RequestError {
  const code = (e as { code?: string }).code;
  return code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT"
    ? new RequestError(504, "UPSTREAM_TIMEOUT", `the LLM behind ${route.name} did not answer within ${route.timeoutMs} ms`)
    : new RequestError(502, "UPSTREAM_ERROR", `the LLM behind ${route.name} could not be reached`);
}

/**
 * The upstream's model list (GET {prefix}/models) and models (GET {prefix}/models/{id}), as
 * the OpenAI clients read them. A client without the route's roles sees an empty list.
 */
export function modelCatalog(route: LlmRoute, dispatcher: Dispatcher = getGlobalDispatcher()): ModelCatalog {
  const permitted = (request: FastifyRequest) => !route.roles || route.roles.some((r) => request.aegis.principal?.roles.includes(r));
  const get = async (request: FastifyRequest, path: string, id?: string): Promise<Record<string, unknown>> => {
    let res: Dispatcher.ResponseData;
    try {
      res = await dispatcher.request({
        origin: route.upstream,
        path,
        method: "GET",
        headers: { "x-request-id": request.id, ...upstreamAuth(route) },
        headersTimeout: route.timeoutMs,
        bodyTimeout: route.timeoutMs,
      });
    } catch (e) {
      throw unreachable(route, e);
    }
    const body = (await res.body.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (res.statusCode === 404 && id !== undefined) throw new RequestError(404, "MODEL_NOT_FOUND", `the LLM behind ${route.name} has no model "${id}"`);
    if (res.statusCode !== 200 || body === null || typeof body !== "object" || (id === undefined && !Array.isArray(body.data)))
      throw new RequestError(502, "UPSTREAM_ERROR", `the LLM behind ${route.name} did not list its models in the OpenAI format (HTTP ${res.statusCode})`);
    return body;
  };
  return {
    async list(request) {
      if (!permitted(request)) return { object: "list", data: [] };
      return { object: "list", data: (await get(request, `${route.prefix}/models`)).data as unknown[] };
    },
    async retrieve(request, id) {
      if (!permitted(request)) throw new RequestError(404, "MODEL_NOT_FOUND", `no model "${id}" for this client`);
      return get(request, `${route.prefix}/models/${encodeURIComponent(id)}`, id);
    },
  };
}

/** A finding refuses the prompt when its scanner blocks, except the injection classifier's score on the operator's roles (below). */
function blocks(route: LlmRoute, finding: Detection, role: string | undefined): boolean {
  if (!route.input.block.has(finding.scanner)) return false;
  // The classifier scores how much a text reads like instructions to the model, which a
  // system or developer message is by design; the pattern families still apply to them.
  return !(finding.scanner === "prompt-injection" && finding.kind === "classifier" && (role === "system" || role === "developer"));
}

/** The last user message's text, for the output scanners. */
function lastUserText(messages: unknown[]): string {
  const last = [...messages].reverse().find((m) => (m as { role?: unknown }).role === "user");
  return messageText(last);
}

/** One decision per scanner that found something: it blocked, only flagged (a blocking scanner's exempt finding) or transformed. */
function record(request: FastifyRequest, control: string, findings: readonly Detection[], block: ReadonlySet<string>, blocking: readonly Detection[]): void {
  for (const scanner of new Set(findings.map((f) => f.scanner))) {
    const action = blocking.some((f) => f.scanner === scanner) ? "block" : block.has(scanner) ? "flag" : "redact";
    request.aegis.decisions.push({ control, action, reason: scanner });
  }
}

function describeFindings(findings: readonly Detection[]): string {
  return [...new Set(findings.map((f) => `${f.scanner} (${f.kind})`))].join(", ");
}
