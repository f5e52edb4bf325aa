/**
 * Routes in front of an OpenAI-compatible LLM endpoint (`/chat/completions`,
 * `/completions`, `/embeddings`). Prompts pass the input scanners: blocking scanners
 * (prompt injection, smuggled text…) refuse the request with 400, transforming ones
 * (PII, secrets) anonymise it so the upstream never sees the values. Answers pass the
 * output scanners: leaks of the system prompt and unsafe markup are withheld
 * (finish_reason "content_filter"), secrets and foreign PII redacted, the user's own
 * values restored. Streams are scanned as they arrive: the guard re-scans the text so
 * far and forwards it minus a hold-back window, so a secret split across chunks is
 * redacted before any of it leaves. Tokens are counted with a real BPE tokenizer for the
 * per-minute and per-day budgets.
 */
import { PassThrough } from "node:stream";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { encode } from "gpt-tokenizer";
import { RateLimiterRes } from "rate-limiter-flexible";
import { Pool } from "undici";
import type { Pipeline } from "../llm/pipeline.js";
import type { Finding, ScanContext } from "../llm/scanners/types.js";
import { clientId } from "./context.js";
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
  input: Pipeline;
  output: Pipeline;
  /** Scanners whose invalid verdict blocks (the others only transform and record). */
  block: ReadonlySet<string>;
  systemPrompt?: string;
  canaries?: readonly string[];
  tokensPerMinute?: number;
  tokenBudgetPerDay?: number;
}

/** Characters of a streamed answer held back until more text (or the end) shows whether they must be redacted. */
export const STREAM_HOLDBACK = 64;

interface ChatMessage {
  role?: string;
  content?: unknown;
}

export const llmRoutes: FastifyPluginAsync<{ routes: readonly LlmRoute[]; limiters?: LimiterFactory }> = async (
  app,
  { routes, limiters = memoryLimiterFactory },
) => {
  const pools: Pool[] = [];
  app.addHook("onClose", async () => {
    await Promise.all(pools.map((p) => p.close()));
  });
  for (const route of routes) {
    const pool = new Pool(route.upstream, { connections: 32 });
    pools.push(pool);
    const perMinute = route.tokensPerMinute ? limiters(`tpm:${route.name}`, route.tokensPerMinute) : undefined;
    const perDay = route.tokenBudgetPerDay ? limiters(`tpd:${route.name}`, route.tokenBudgetPerDay, 86_400) : undefined;
    const config = { routeName: route.name, roles: route.roles };

    const spend = async (request: FastifyRequest, tokens: number, strict: boolean) => {
      const client = clientId(request.aegis, request.ip);
      for (const [limiter, what] of [
        [perMinute, "tokens per minute"],
        [perDay, "daily token budget"],
      ] as const) {
        if (!limiter || tokens === 0) continue;
        try {
          await limiter.consume(client, tokens);
        } catch (e) {
          if (!(e instanceof RateLimiterRes)) throw e;
          // Completion tokens are charged after the fact; only prompts are refused.
          if (!strict) continue;
          request.aegis.decisions.push({ control: "token-limit", action: "throttle", reason: what });
          throw new RequestError(
            429,
            "TOKEN_LIMIT",
            `this request's ${tokens} tokens exceed the client's ${what}; retry after ${Math.ceil(e.msBeforeNext / 1000)} s`,
          );
        }
      }
    };

    /** Scans every prompt text of the body in place; throws 400 on a blocking finding. */
    const scanPrompts = async (request: FastifyRequest, texts: { get(): string; set(v: string): void }[], context: ScanContext) => {
      let tokens = 0;
      for (const t of texts) {
        const result = await route.input.scan(t.get(), context);
        const blocking = result.findings.filter((f) => route.block.has(f.scanner));
        record(request, "llm-input", result.findings, route.block);
        if (blocking.length > 0) {
          throw new RequestError(400, "PROMPT_REJECTED", `the prompt was refused: ${describeFindings(blocking)}`);
        }
        t.set(result.text);
        tokens += encode(result.text).length;
      }
      await spend(request, tokens, true);
    };

    const forward = async (request: FastifyRequest, body: unknown) => {
      const started = performance.now();
      try {
        return await pool.request({
          path: request.url.split("?")[0],
          method: "POST",
          headers: { "content-type": "application/json", "x-request-id": request.id, ...(route.apiKey ? { authorization: `Bearer ${route.apiKey}` } : {}) },
          body: JSON.stringify(body),
          headersTimeout: route.timeoutMs,
          bodyTimeout: route.timeoutMs,
        });
      } catch (e) {
        const code = (e as { code?: string }).code;
        throw code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT"
          ? new RequestError(504, "UPSTREAM_TIMEOUT", `the LLM behind ${route.name} did not answer within ${route.timeoutMs} ms`)
          : new RequestError(502, "UPSTREAM_ERROR", `the LLM behind ${route.name} could not be reached`);
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
        const body = requestBody(request);
        const context: ScanContext = { vault: new Map(), systemPrompt: route.systemPrompt, canaries: route.canaries };
        await scanPrompts(request, kind === "completions" ? promptTexts(body) : messageTexts(body), context);
        context.prompt = kind === "completions" ? String(body.prompt) : lastUserText(body.messages as ChatMessage[]);
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
        let completionTokens = 0;
        for (const choice of answer.choices) {
          const message = choice.message as ChatMessage | undefined;
          const text = kind === "completions" ? choice.text : message?.content;
          if (typeof text !== "string") continue;
          const verdict = await scanAnswer(request, text, context);
          completionTokens += encode(text).length;
          if (kind === "completions") choice.text = verdict.text;
          else if (message) message.content = verdict.text;
          if (verdict.withheld) choice.finish_reason = "content_filter";
        }
        await spend(request, answer.usage?.completion_tokens ?? completionTokens, false);
        return answer;
      });
    }

    app.post(`${route.prefix}/embeddings`, { config }, async (request) => {
      const body = requestBody(request);
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      const texts = inputs.map((_, i) => ({
        get: () => String(inputs[i]),
        set: (v: string) => {
          inputs[i] = v;
        },
      }));
      await scanPrompts(request, texts, { vault: new Map() });
      body.input = Array.isArray(body.input) ? inputs : inputs[0];
      const res = await forward(request, body);
      if (res.statusCode !== 200) return upstreamError(res.statusCode, res.body);
      return res.body.json();
    });

    /** Output scan of a whole answer: the text to send and whether it was withheld. */
    const scanAnswer = async (request: FastifyRequest, text: string, context: ScanContext) => {
      const result = await route.output.scan(text, context);
      record(request, "llm-output", result.findings, route.block);
      const blocking = result.findings.filter((f) => route.block.has(f.scanner));
      if (blocking.length > 0) return { text: `[withheld by Aegis: ${describeFindings(blocking)}]`, withheld: true };
      return { text: result.text, withheld: false };
    };

    /** The client's event stream, written as the upstream's arrives (the audit entry is written before its first byte). */
    const streamAnswer = (request: FastifyRequest, upstream: AsyncIterable<Buffer>, kind: string, context: ScanContext): PassThrough => {
      const out = new PassThrough();
      void pump(request, upstream, kind, context, out);
      return out;
    };

    const pump = async (request: FastifyRequest, upstream: AsyncIterable<Buffer>, kind: string, context: ScanContext, out: PassThrough) => {
      let raw = "";
      let emitted = "";
      let envelope: Record<string, unknown> | undefined;
      let pending = "";
      const send = (delta: string, finish: string | null) => {
        if (!envelope) return;
        const choice =
          kind === "completions"
            ? { index: 0, text: delta, finish_reason: finish }
            : { index: 0, delta: delta ? { content: delta } : {}, finish_reason: finish };
        out.write(`data: ${JSON.stringify({ ...envelope, choices: [choice] })}\n\n`);
      };
      const flush = async (final: boolean): Promise<boolean> => {
        const verdict = await scanAnswer(request, raw, context);
        if (verdict.withheld) {
          send("", "content_filter");
          return false;
        }
        const ready = final ? verdict.text : verdict.text.slice(0, Math.max(0, verdict.text.length - STREAM_HOLDBACK));
        if (ready.length > emitted.length && ready.startsWith(emitted)) {
          send(ready.slice(emitted.length), null);
          emitted = ready;
        }
        return true;
      };
      let open = true;
      let finishReason: string | null = "stop";
      try {
        for await (const chunk of upstream) {
          pending += chunk.toString("utf8");
          let cut = pending.indexOf("\n\n");
          while (cut >= 0 && open) {
            const event = pending.slice(0, cut);
            pending = pending.slice(cut + 2);
            cut = pending.indexOf("\n\n");
            const data = event
              .split("\n")
              .filter((l) => l.startsWith("data:"))
              .map((l) => l.slice(5).trim())
              .join("");
            if (data === "" || data === "[DONE]") continue;
            const parsed = JSON.parse(data) as { choices?: { delta?: { content?: string }; text?: string; finish_reason?: string | null }[] } & Record<
              string,
              unknown
            >;
            const { choices, ...rest } = parsed;
            envelope ??= rest;
            const choice = choices?.[0];
            raw += (kind === "completions" ? choice?.text : choice?.delta?.content) ?? "";
            if (choice?.finish_reason) finishReason = choice.finish_reason;
            if (raw.length - emitted.length >= 2 * STREAM_HOLDBACK) open = await flush(false);
          }
          if (!open) break;
        }
        if (open && (await flush(true))) send("", finishReason);
      } catch (e) {
        request.log.error(e, "the LLM stream failed");
        send("", "error");
      } finally {
        out.end("data: [DONE]\n\n");
        await spend(request, encode(raw).length, false).catch(() => undefined);
      }
    };
  }
};

function requestBody(request: FastifyRequest): Record<string, unknown> {
  const body = request.body;
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new RequestError(400, "INVALID_INPUT", "the body must be a JSON object in the OpenAI format");
  return body as Record<string, unknown>;
}

/** Accessors for the text of every user, tool and function message (the untrusted ones). */
function messageTexts(body: Record<string, unknown>) {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw new RequestError(400, "INVALID_INPUT", "messages must be a non-empty list");
  const texts: { get(): string; set(v: string): void }[] = [];
  for (const m of messages as ChatMessage[]) {
    if (m.role === "system" || m.role === "assistant" || m.role === "developer") continue;
    if (typeof m.content === "string") {
      texts.push({
        get: () => m.content as string,
        set: (v) => {
          m.content = v;
        },
      });
    } else if (Array.isArray(m.content)) {
      for (const part of m.content as { type?: string; text?: string }[]) {
        if (part?.type === "text" && typeof part.text === "string") {
          texts.push({
            get: () => part.text as string,
            set: (v) => {
              part.text = v;
            },
          });
        }
      }
    }
  }
  return texts;
}

function promptTexts(body: Record<string, unknown>) {
  const prompts = Array.isArray(body.prompt) ? body.prompt : [body.prompt];
  if (!prompts.every((p) => typeof p === "string")) throw new RequestError(400, "INVALID_INPUT", "prompt must be a string or a list of strings");
  return prompts.map((_, i) => ({
    get: () => prompts[i] as string,
    set: (v: string) => {
      prompts[i] = v;
      body.prompt = Array.isArray(body.prompt) ? prompts : v;
    },
  }));
}

function lastUserText(messages: ChatMessage[]): string {
  const last = [...messages].reverse().find((m) => m.role === "user");
  return typeof last?.content === "string" ? last.content : "";
}

function record(request: FastifyRequest, control: string, findings: readonly Finding[], block: ReadonlySet<string>): void {
  for (const scanner of new Set(findings.map((f) => f.scanner))) {
    request.aegis.decisions.push({ control, action: block.has(scanner) ? "block" : "redact", reason: scanner });
  }
}

function describeFindings(findings: readonly Finding[]): string {
  return [...new Set(findings.map((f) => `${f.scanner} (${f.kind})`))].join(", ");
}
