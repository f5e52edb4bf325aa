/**
 * An OpenAI-compatible chat endpoint as a red-team target: POST {base}/v1/chat/completions
 * (OpenAI's Chat Completions API, which vLLM, Ollama, llama.cpp's server and LiteLLM all
 * serve), with or without server-sent-event streaming. Streamed deltas are reassembled into
 * one reply. Network errors, timeouts, 429 and 5xx are retried with exponential backoff;
 * other 4xx fail at once. A shared slot pool bounds the requests in flight, so a red-team
 * run never floods a small self-hosted server. Every failure is a TARGET_ERROR whose
 * sentence says what to check.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AegisError } from "../../../errors.js";
import type { ChatMessage, ChatOptions, ChatReply, ChatTarget } from "../types.js";

export interface OpenAiTargetOptions {
  /** Server root, …/v1 or the full …/v1/chat/completions URL. */
  url: string;
  /** Model name the server knows, e.g. "llama3.1:8b". */
  model: string;
  /** Sent as "Authorization: Bearer …" when set. */
  apiKey?: string;
  /** Ask for server-sent events and reassemble them (default false). */
  stream?: boolean;
  /** Sampling temperature (default 0, so runs are as repeatable as the server allows). */
  temperature?: number;
  /** Cap on generated tokens per reply (default 512). */
  maxTokens?: number;
  /** Time limit of one request, streamed body included (default 60000 ms). */
  timeoutMs?: number;
  /** Retries after a network error, a timeout, a 429 or a 5xx (default 2). */
  retries?: number;
  /** First backoff delay, doubled on each retry, with jitter (default 1000 ms). */
  retryBaseMs?: number;
  /** Requests in flight at once (default 2). */
  concurrency?: number;
  headers?: Record<string, string>;
}

/** Normalises the URL a user typed into the chat-completions endpoint. */
export function chatCompletionsUrl(url: string): string {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new AegisError("BAD_OPTION", `--target must be an http(s) URL such as http://localhost:11434, not "${url}"`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new AegisError("BAD_OPTION", `--target must be an http(s) URL such as http://localhost:11434, not "${url}"`);
  }
  const path = base.pathname
    .replace(/\/+$/, "")
    .replace(/\/chat\/completions$/, "")
    .replace(/\/v1$/, "");
  base.pathname = `${path}/v1/chat/completions`;
  return base.toString();
}

/** Counts the requests in flight and queues the rest. */
function slotPool(size: number): { acquire(): Promise<void>; release(): void } {
  let free = size;
  const waiting: (() => void)[] = [];
  return {
    acquire: async () => {
      if (free > 0) {
        free--;
        return;
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    },
    release: () => {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

export function createOpenAiTarget(options: OpenAiTargetOptions): ChatTarget {
  const url = chatCompletionsUrl(options.url);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const retries = options.retries ?? 2;
  const retryBaseMs = options.retryBaseMs ?? 1000;
  const slots = slotPool(Math.max(1, options.concurrency ?? 2));
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json, text/event-stream", ...options.headers };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const shown = `${new URL(url).origin}${new URL(url).pathname}`;

  const requestBody = (messages: ChatMessage[]): string =>
    JSON.stringify({
      model: options.model,
      messages,
      temperature: options.temperature ?? 0,
      max_tokens: options.maxTokens ?? 512,
      stream: options.stream === true,
    });

  const once = async (body: string, signal: AbortSignal | undefined): Promise<ChatReply> => {
    const started = performance.now();
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const response = await fetch(url, { method: "POST", headers, body, signal: combined });
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      throw new HttpStatusError(response.status, text, response.headers.get("retry-after"));
    }
    const isStream = (response.headers.get("content-type") ?? "").includes("text/event-stream");
    const parsed = isStream ? await readEventStream(response, shown) : parseCompletion(await response.text(), shown);
    return { ...parsed, latencyMs: performance.now() - started };
  };

  return {
    name: `${options.model} @ ${shown}`,
    async chat(messages: ChatMessage[], chatOptions: ChatOptions = {}): Promise<ChatReply> {
      const body = requestBody(messages);
      await slots.acquire();
      try {
        for (let attempt = 0; ; attempt++) {
          if (chatOptions.signal?.aborted) throw interrupted();
          try {
            return await once(body, chatOptions.signal);
          } catch (e) {
            if (chatOptions.signal?.aborted) throw interrupted();
            if (e instanceof AegisError) throw e;
            const retryable = !(e instanceof HttpStatusError) || e.status === 429 || e.status >= 500;
            if (!retryable || attempt >= retries) throw describeFailure(e, shown, attempt + 1, timeoutMs);
            const asked = e instanceof HttpStatusError ? retryAfterMs(e.retryAfter) : undefined;
            const delay = Math.min(60_000, asked ?? retryBaseMs * 2 ** attempt * (0.5 + Math.random() / 2));
            try {
              await sleep(delay, undefined, { signal: chatOptions.signal });
            } catch {
              throw interrupted();
            }
          }
        }
      } finally {
        slots.release();
      }
    },
  };
}

/** An HTTP status other than 2xx; `status` tells the runner whether one attempt or the whole target failed. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly retryAfter: string | null,
  ) {
    super(`HTTP ${status}`);
  }
}

function interrupted(): AegisError {
  return new AegisError("INTERRUPTED", "the red-team run was interrupted");
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat || "(empty body)";
}

function describeFailure(e: unknown, shown: string, attempts: number, timeoutMs: number): AegisError {
  const tried = `after ${attempts} attempt(s)`;
  if (e instanceof HttpStatusError) {
    const hint =
      e.status === 401 || e.status === 403
        ? "check the API key (environment variable AEGIS_REDTEAM_API_KEY or the one named by --api-key-env)"
        : e.status === 404
          ? "check the URL and that --model names a model the server has loaded"
          : e.status === 429 || e.status >= 500
            ? "the server is failing or overloaded; try again later or lower --concurrency"
            : "check --model and that the server speaks the OpenAI chat-completions API";
    return new AegisError("TARGET_ERROR", `${shown} answered HTTP ${e.status} ${tried}: ${excerpt(e.body)}; ${hint}`, { cause: e });
  }
  if (e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError")) {
    return new AegisError("TARGET_ERROR", `${shown} did not answer within ${timeoutMs} ms ${tried}; check that the server is up, or raise --timeout`, {
      cause: e,
    });
  }
  let code: string | undefined;
  for (let c: unknown = e; c instanceof Error; c = c.cause) code ??= (c as { code?: string }).code;
  const what = code === "ECONNREFUSED" ? "connection refused" : code === "ENOTFOUND" ? "host not found" : (code ?? String((e as Error)?.message ?? e));
  return new AegisError("TARGET_ERROR", `cannot reach ${shown} (${what}) ${tried}; check that the server is running and the URL is right`, { cause: e });
}

function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header.trim());
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

interface CompletionChoice {
  message?: { content?: string | null };
  delta?: { content?: string | null };
  finish_reason?: string | null;
}

function badReply(shown: string, why: string): AegisError {
  return new AegisError(
    "TARGET_ERROR",
    `${shown} sent a reply that is not an OpenAI chat completion (${why}); check that the URL points at an OpenAI-compatible server`,
  );
}

function parseCompletion(text: string, shown: string): Omit<ChatReply, "latencyMs"> {
  let json: { choices?: CompletionChoice[] };
  try {
    json = JSON.parse(text);
  } catch {
    throw badReply(shown, `body is not JSON: ${excerpt(text)}`);
  }
  const choice = json.choices?.[0];
  if (!choice) throw badReply(shown, "no choices");
  return { text: choice.message?.content ?? "", finishReason: choice.finish_reason ?? undefined };
}

/** Reassembles `data:` events (OpenAI streaming) until `data: [DONE]` or the end of the body. */
async function readEventStream(response: Response, shown: string): Promise<Omit<ChatReply, "latencyMs">> {
  if (!response.body) throw badReply(shown, "empty stream");
  const decoder = new TextDecoder();
  let buffer = "";
  let text = "";
  let finishReason: string | undefined;
  const handleEvent = (event: string): boolean => {
    for (const line of event.split(/\r?\n/)) {
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return true;
      let chunk: { choices?: CompletionChoice[]; error?: { message?: string } };
      try {
        chunk = JSON.parse(data);
      } catch {
        throw badReply(shown, `stream event is not JSON: ${excerpt(data)}`);
      }
      if (chunk.error)
        throw new AegisError("TARGET_ERROR", `${shown} reported an error mid-stream: ${excerpt(chunk.error.message ?? JSON.stringify(chunk.error))}`);
      const choice = chunk.choices?.[0];
      if (choice?.delta?.content) text += choice.delta.content;
      if (choice?.finish_reason) finishReason = choice.finish_reason;
    }
    return false;
  };
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes as Uint8Array, { stream: true });
    for (let end = buffer.search(/\r?\n\r?\n/); end >= 0; end = buffer.search(/\r?\n\r?\n/)) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      if (handleEvent(event)) return { text, finishReason };
    }
  }
  handleEvent(buffer + decoder.decode());
  return { text, finishReason };
}
