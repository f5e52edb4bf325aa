/**
 * A deployed model behind an HTTP endpoint, seen as a black box: `Predictor` only, never
 * gradients. The request and response shapes are a small JSON mapping (KServe /
 * TF-Serving style by default), so most serving stacks fit without code. Every sample
 * sent is counted, because the query count is what black-box attack papers report and
 * what a paid or rate-limited API bills; an optional budget stops an attack before it
 * spends more than the user allowed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AegisError } from "../errors.js";
import { float32, sizeOf, type Tensor } from "../tensor.js";
import type { Predictor } from "./capabilities.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The string in `requestTemplate` that is replaced by the batch. */
export const INSTANCES = "$instances";

export interface HttpPredictorOptions {
  /** Endpoint that takes a POST with a JSON body, e.g. http://host:8080/v1/models/m:predict. */
  url: string;
  /** Shape of one sample, without the batch axis, e.g. [1, 28, 28]. */
  inputShape: readonly number[];
  /** Number of classes; learned from the first response when omitted (not possible for label-only APIs). */
  numClasses?: number;
  /** Valid input range (default [0, 1]). */
  clipRange?: readonly [number, number];
  /** What the endpoint returns (default "probs"). */
  outputKind?: "probs" | "logits";
  /** JSON body in which the string "$instances" is replaced by the batch as nested arrays (default {"instances": "$instances"}). */
  requestTemplate?: JsonValue;
  /** Dotted path, with optional [index], to the array of per-sample outputs (default "predictions"; "" is the body itself). */
  responsePath?: string;
  /** When each per-sample output is an object, the field that holds its scores or label (e.g. "probabilities"). */
  scoresField?: string;
  /** Extra request headers, e.g. { Authorization: "Bearer …" }. */
  headers?: Record<string, string>;
  /** Samples per request (default 32). */
  batchSize?: number;
  /** Requests in flight at once, across all calls on this predictor (default 4). */
  concurrency?: number;
  /** Retries after a network error, a timeout, a 5xx or a 429 (default 3); other 4xx are never retried. */
  retries?: number;
  /** First backoff delay; it doubles on each retry, with jitter (default 500 ms). */
  retryBaseMs?: number;
  /** Longest wait between attempts; a Retry-After asking for more ends the call (default 60000 ms). */
  retryMaxMs?: number;
  /** Time limit of one request, body included (default 30000 ms). */
  timeoutMs?: number;
  /** Budget of samples sent; a request that would exceed it is not sent. */
  maxQueries?: number;
}

type Step = string | number;

const DEFAULT_TEMPLATE: JsonValue = { instances: INSTANCES };
const QUOTE_LIMIT = 200;

export class HttpPredictor implements Predictor {
  readonly url: string;
  readonly inputShape: readonly number[];
  readonly clipRange: readonly [number, number];
  readonly outputKind: "probs" | "logits";
  readonly requestTemplate: JsonValue;
  readonly responsePath: string;
  readonly scoresField: string | undefined;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly timeoutMs: number;
  readonly maxQueries: number | undefined;

  private readonly headers: Record<string, string>;
  private readonly path: readonly Step[];
  /** The URL as shown in messages: no query string, which may carry an API key. */
  private readonly shownUrl: string;
  private readonly slots: Slots;
  private classes: number | undefined;
  /** Most samples sent in one request, set once the endpoint has refused a body as too large (413). */
  private requestCap: number | undefined;
  private sentSamples = 0;
  private httpCalls = 0;

  constructor(options: HttpPredictorOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new AegisError("BAD_OPTION", `target URL "${options.url}" is not a valid URL; give one like http://host:8080/predict`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new AegisError("BAD_OPTION", `target URL "${options.url}" must start with http:// or https://`);
    }
    if (parsed.username || parsed.password) {
      throw new AegisError("BAD_OPTION", "the target URL must not carry a user name or password; pass credentials in headers (e.g. Authorization) instead");
    }
    this.url = parsed.href;
    this.shownUrl = `${parsed.origin}${parsed.pathname}`;

    if (!Array.isArray(options.inputShape) || !options.inputShape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new AegisError(
        "BAD_OPTION",
        `inputShape must be a list of positive integers (one sample's shape, e.g. [1, 28, 28]), got ${JSON.stringify(options.inputShape)}`,
      );
    }
    this.inputShape = [...options.inputShape];
    if (options.numClasses !== undefined) checkClassCount(options.numClasses, "BAD_OPTION", "numClasses");
    this.classes = options.numClasses;

    const clip = options.clipRange ?? [0, 1];
    if (clip.length !== 2 || !Number.isFinite(clip[0]) || !Number.isFinite(clip[1]) || clip[0] >= clip[1]) {
      throw new AegisError("BAD_OPTION", `clipRange must be two finite numbers [low, high] with low < high, got ${JSON.stringify(clip)}`);
    }
    this.clipRange = [clip[0], clip[1]];
    const kind = options.outputKind ?? "probs";
    if (kind !== "probs" && kind !== "logits") {
      throw new AegisError("BAD_OPTION", `outputKind must be "probs" or "logits", got ${JSON.stringify(kind)}`);
    }
    this.outputKind = kind;

    this.requestTemplate = options.requestTemplate ?? DEFAULT_TEMPLATE;
    if (countInstances(this.requestTemplate) === 0) {
      throw new AegisError("BAD_OPTION", `requestTemplate must contain the string "${INSTANCES}" where the batch goes, e.g. {"inputs": "${INSTANCES}"}`);
    }
    this.responsePath = options.responsePath ?? "predictions";
    this.path = parsePath(this.responsePath);
    if (options.scoresField !== undefined && (typeof options.scoresField !== "string" || options.scoresField === "")) {
      throw new AegisError("BAD_OPTION", 'scoresField must be a non-empty field name, e.g. "probabilities"');
    }
    this.scoresField = options.scoresField;

    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    // Lower-cased so a user's "Content-Type" replaces ours instead of sending both.
    for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = String(v);
    this.headers = headers;

    this.batchSize = positiveInt(options.batchSize, 32, "batchSize");
    this.concurrency = positiveInt(options.concurrency, 4, "concurrency");
    this.retries = nonNegative(options.retries, 3, "retries", true);
    this.retryBaseMs = nonNegative(options.retryBaseMs, 500, "retryBaseMs", false);
    this.retryMaxMs = nonNegative(options.retryMaxMs, 60_000, "retryMaxMs", false);
    this.timeoutMs = positiveInt(options.timeoutMs, 30_000, "timeoutMs");
    this.maxQueries = options.maxQueries === undefined ? undefined : nonNegative(options.maxQueries, 0, "maxQueries", true);
    this.slots = new Slots(this.concurrency);
  }

  /** Number of classes: given as an option, or learned from the endpoint's first answer. */
  get numClasses(): number {
    if (this.classes === undefined) {
      throw new AegisError(
        "BAD_OPTION",
        `the number of classes of ${this.shownUrl} is not known until it has answered once; pass numClasses (--target-classes on the command line) or call predict first`,
      );
    }
    return this.classes;
  }

  /** Whether numClasses can be read: it was given, or the endpoint has answered. */
  get classCountKnown(): boolean {
    return this.classes !== undefined;
  }

  /** Samples sent so far, each counted once per batch (retries of a batch are not counted again). */
  get queries(): number {
    return this.sentSamples;
  }

  /** HTTP calls made so far, retries included. */
  get requests(): number {
    return this.httpCalls;
  }

  /** Sets both counts to zero, which also gives the whole maxQueries budget back. */
  resetCounts(): void {
    this.sentSamples = 0;
    this.httpCalls = 0;
  }

  async predict(x: Tensor<"float32">): Promise<Tensor<"float32">> {
    const row = sizeOf(this.inputShape);
    const sampleShape = x.shape.slice(1);
    if (x.shape.length !== this.inputShape.length + 1 || sampleShape.some((d, i) => d !== this.inputShape[i])) {
      throw new AegisError(
        "SHAPE_MISMATCH",
        `the target expects inputs of shape [N, ${this.inputShape.join(", ")}] but got [${x.shape.join(", ")}]; reshape the data or fix inputShape`,
      );
    }
    const n = x.shape[0];
    for (let i = 0; i < x.data.length; i++) {
      if (!Number.isFinite(x.data[i])) {
        throw new AegisError(
          "NON_FINITE",
          `input sample ${Math.floor(i / row)} holds ${x.data[i]}, which JSON cannot carry; clean the data before querying the target`,
        );
      }
    }
    if (n === 0) return float32([0, this.classes ?? 0]);
    // Refuse a call that cannot fit before spending any of the budget on it.
    if (this.maxQueries !== undefined && this.sentSamples + n > this.maxQueries) throw this.budgetError(n, "this call");

    const batches = Math.ceil(n / this.batchSize);
    const results = new Array<Float32Array>(batches);
    const cancel = new AbortController();
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async (): Promise<void> => {
      while (!failure && next < batches) {
        const b = next++;
        const start = b * this.batchSize;
        const end = Math.min(n, start + this.batchSize);
        try {
          results[b] = await this.runBatch(x.data.subarray(start * row, end * row), end - start, cancel.signal);
        } catch (error) {
          if (!failure) {
            failure = { error };
            cancel.abort();
          }
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches) }, worker));
    if (failure) throw failure.error;

    const classes = this.numClasses;
    const out = new Float32Array(n * classes);
    for (let b = 0; b < batches; b++) out.set(results[b], b * this.batchSize * classes);
    return float32([n, classes], out);
  }

  /** One batch: waits for a free slot, spends its share of the budget, posts, parses. */
  private async runBatch(data: Float32Array, count: number, cancel: AbortSignal): Promise<Float32Array> {
    await this.slots.acquire();
    try {
      if (cancel.aborted) throw new Cancelled();
      if (this.maxQueries !== undefined && this.sentSamples + count > this.maxQueries) throw this.budgetError(count, "the next request");
      this.sentSamples += count;
      return await this.postRows(data, count, cancel);
    } finally {
      this.slots.release();
    }
  }

  /**
   * Posts `count` rows in as few requests as the endpoint's body limit allows: a request it
   * refuses as too large (413) is sent again in halves, and later batches are cut to that
   * size, so a batch size above a server's limit costs a refusal or two, not the run.
   */
  private async postRows(data: Float32Array, count: number, cancel: AbortSignal): Promise<Float32Array> {
    if (this.requestCap !== undefined && count > this.requestCap) return this.postInTwo(data, count, this.requestCap, cancel);
    const body = JSON.stringify(fillTemplate(this.requestTemplate, batchToJson(data, count, this.inputShape)));
    try {
      return this.parseOutputs(await this.post(body, cancel), count);
    } catch (e) {
      if (!(e instanceof BodyTooLarge)) throw e;
      if (count === 1) throw e.refusal;
      this.requestCap = Math.min(this.requestCap ?? count, Math.ceil(count / 2));
      return this.postInTwo(data, count, this.requestCap, cancel);
    }
  }

  /** The first `first` rows, then the rest (cut again by postRows if still above the cap). */
  private async postInTwo(data: Float32Array, count: number, first: number, cancel: AbortSignal): Promise<Float32Array> {
    const row = sizeOf(this.inputShape);
    const head = await this.postRows(data.subarray(0, first * row), first, cancel);
    const tail = await this.postRows(data.subarray(first * row), count - first, cancel);
    const out = new Float32Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    return out;
  }

  /** POSTs with retries; returns the body of the first 2xx answer. */
  private async post(body: string, cancel: AbortSignal): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      if (cancel.aborted) throw new Cancelled();
      this.httpCalls++;
      let response: Response;
      let text: string;
      try {
        const timeout = AbortSignal.timeout(this.timeoutMs);
        response = await fetch(this.url, { method: "POST", headers: this.headers, body, signal: either(timeout, cancel) });
        text = await response.text();
      } catch (e) {
        if (cancel.aborted) throw new Cancelled();
        if (attempt < this.retries) {
          await this.wait(this.backoff(attempt), cancel);
          continue;
        }
        throw this.networkError(e, attempt + 1);
      }
      if (response.ok) return text;

      const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
      if (response.status !== 429 && response.status < 500) {
        const hint =
          response.status === 401 || response.status === 403
            ? "check the credentials in headers (e.g. Authorization)"
            : response.status === 404 || response.status === 405
              ? "check the URL and that the endpoint takes POST"
              : response.status === 413
                ? "one sample is larger than the endpoint's body limit; raise the limit on the server"
                : "check requestTemplate, inputShape and headers against what the endpoint expects";
        const refusal = new AegisError("TARGET_ERROR", `${this.shownUrl} rejected the request with ${status}: ${quote(text)}; ${hint}`);
        throw response.status === 413 ? new BodyTooLarge(refusal) : refusal;
      }
      if (attempt >= this.retries) {
        throw new AegisError(
          "TARGET_ERROR",
          `${this.shownUrl} answered ${status} after ${attempt + 1} attempt(s): ${quote(text)}; the endpoint is failing or overloaded, try again later or lower concurrency`,
        );
      }
      const asked = retryAfterMs(response.headers.get("retry-after"));
      if (asked !== undefined && asked > this.retryMaxMs) {
        throw new AegisError(
          "TARGET_ERROR",
          `${this.shownUrl} answered ${status} and asks to wait ${Math.ceil(asked / 1000)} s before retrying, longer than retryMaxMs (${this.retryMaxMs} ms); try again later or raise retryMaxMs`,
        );
      }
      await this.wait(asked ?? this.backoff(attempt), cancel);
    }
  }

  /** Exponential backoff with "equal jitter": half the delay fixed, half random, so clients that failed together do not retry together. */
  private backoff(attempt: number): number {
    const delay = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** attempt);
    return delay / 2 + Math.random() * (delay / 2);
  }

  private async wait(ms: number, cancel: AbortSignal): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: cancel });
    } catch {
      throw new Cancelled();
    }
  }

  private networkError(e: unknown, attempts: number): AegisError {
    const tried = `after ${attempts} attempt(s)`;
    if (e instanceof Error && e.name === "TimeoutError") {
      return new AegisError(
        "TARGET_ERROR",
        `${this.shownUrl} did not answer within ${this.timeoutMs} ms ${tried}; check that the endpoint is up, or raise timeoutMs or lower batchSize`,
        { cause: e },
      );
    }
    const code = errorCode(e);
    const what =
      code === "ECONNREFUSED"
        ? "connection refused"
        : code === "ENOTFOUND" || code === "EAI_AGAIN"
          ? "host not found"
          : (code ?? (e instanceof Error ? e.message : String(e)));
    return new AegisError("TARGET_ERROR", `cannot reach ${this.shownUrl} (${what}) ${tried}; check that the endpoint is up and the URL is right`, { cause: e });
  }

  private budgetError(count: number, what: string): AegisError {
    return new AegisError(
      "TARGET_ERROR",
      `the query budget is spent: ${this.sentSamples} of maxQueries=${this.maxQueries} samples already sent and ${what} needs ${count} more; raise maxQueries or attack fewer samples`,
    );
  }

  /** Turns one response body into `count` rows of numClasses scores, learning numClasses if needed. */
  private parseOutputs(text: string, count: number): Float32Array {
    const fail = (problem: string, hint = ""): AegisError =>
      new AegisError("TARGET_ERROR", `${this.shownUrl} answered ${problem}: ${quote(text)}${hint ? `; ${hint}` : ""}`);

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw fail("with a body that is not JSON", "check that the URL points at the prediction endpoint");
    }
    let node = body;
    for (let i = 0; i < this.path.length; i++) {
      const step = this.path[i];
      const child =
        typeof step === "number" ? (Array.isArray(node) ? node[step] : undefined) : isObject(node) && Object.hasOwn(node, step) ? node[step] : undefined;
      if (child === undefined) {
        throw fail(`with no ${formatPath(this.path.slice(0, i + 1))} in its body`, "set responsePath to where the per-sample outputs are");
      }
      node = child;
    }
    const where = this.responsePath === "" ? "its body" : this.responsePath;
    if (!Array.isArray(node)) throw fail(`with ${where} not an array`, "set responsePath to the array of per-sample outputs");
    if (node.length !== count) throw fail(`${node.length} output(s) in ${where} for ${count} sample(s) sent`);

    const rows: Array<readonly number[] | number> = [];
    for (let i = 0; i < count; i++) {
      let item: unknown = node[i];
      if (isObject(item)) {
        if (this.scoresField === undefined) {
          throw fail(`objects as outputs (fields: ${Object.keys(item).join(", ")})`, "set scoresField to the field that holds the scores or label");
        }
        if (!Object.hasOwn(item, this.scoresField)) throw fail(`an output without the field "${this.scoresField}"`, "check scoresField");
        item = item[this.scoresField];
      }
      if (typeof item === "number") {
        rows.push(item);
      } else if (Array.isArray(item) && item.every((v) => typeof v === "number")) {
        rows.push(item as number[]);
      } else {
        throw fail(`output ${i} that is neither a list of numbers nor an integer label`);
      }
    }

    // Fixed by the first vector seen, so later answers must agree with it.
    if (this.classes === undefined) {
      const first = rows.find((r) => typeof r !== "number");
      if (first === undefined) {
        throw new AegisError("BAD_OPTION", `${this.shownUrl} returns bare labels, so the number of classes cannot be learned from it; pass numClasses`);
      }
      checkClassCount((first as readonly number[]).length, "TARGET_ERROR", `${this.shownUrl}'s outputs (the length of the first score vector)`);
      this.classes = (first as readonly number[]).length;
    }
    const classes = this.classes;
    const out = new Float32Array(count * classes);
    for (let i = 0; i < count; i++) {
      const r = rows[i];
      if (typeof r === "number") {
        // A label-only API: its answer is all an attack learns, so it becomes a one-hot row.
        if (!Number.isInteger(r) || r < 0 || r >= classes) {
          throw fail(`label ${r} for sample ${i}, outside 0…${classes - 1}`, "check numClasses");
        }
        out[i * classes + r] = 1;
      } else {
        if (r.length !== classes) throw fail(`${r.length} score(s) for sample ${i} where ${classes} were expected`, "check numClasses");
        out.set(r, i * classes);
      }
    }
    return out;
  }
}

/** A 413 answer, which postRows turns into smaller requests; `refusal` is what the caller sees if even one sample is too large. */
class BodyTooLarge extends Error {
  constructor(readonly refusal: AegisError) {
    super(refusal.message);
  }
}

/** Thrown in the batches still running once another one has failed; never reaches the caller. */
class Cancelled extends Error {}

/** Counting semaphore: the concurrency limit holds across concurrent predict calls. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(size: number) {
    this.free = size;
  }
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const wake = this.waiting.shift();
    if (wake) wake();
    else this.free++;
  }
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new AegisError("BAD_OPTION", `${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return v;
}

function nonNegative(value: number | undefined, fallback: number, name: string, integer: boolean): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new AegisError("BAD_OPTION", `${name} must be a non-negative ${integer ? "integer" : "number"}, got ${JSON.stringify(value)}`);
  }
  return v;
}

function checkClassCount(n: number, code: "BAD_OPTION" | "TARGET_ERROR", what: string): void {
  // One score per sample (a sigmoid) would make every argmax 0: attacks would silently do nothing.
  if (!Number.isInteger(n) || n < 2) throw new AegisError(code, `${what} must give at least 2 classes, got ${n}; Aegis needs one score per class`);
}

/** "a.b[0].c" → ["a", "b", 0, "c"]; "" is the body itself. */
export function parsePath(path: string): Step[] {
  if (typeof path !== "string") throw new AegisError("BAD_OPTION", 'responsePath must be a string such as "predictions" or "outputs[0].data"');
  if (path === "") return [];
  const steps: Step[] = [];
  for (const part of path.split(".")) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m || (m[1] === "" && m[2] === "")) {
      throw new AegisError("BAD_OPTION", `responsePath "${path}" is not a dotted path with optional [index], e.g. "result.outputs" or "outputs[0].data"`);
    }
    if (m[1] !== "") steps.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) steps.push(Number(idx[1]));
  }
  return steps;
}

function formatPath(steps: readonly Step[]): string {
  return steps.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
}

function countInstances(v: unknown): number {
  if (v === INSTANCES) return 1;
  if (Array.isArray(v)) return v.reduce((a: number, e) => a + countInstances(e), 0);
  if (isObject(v)) return Object.values(v).reduce((a: number, e) => a + countInstances(e), 0);
  return 0;
}

function fillTemplate(template: JsonValue, batch: JsonValue): JsonValue {
  if (template === INSTANCES) return batch;
  if (Array.isArray(template)) return template.map((e) => fillTemplate(e, batch));
  if (isObject(template)) {
    const out: { [key: string]: JsonValue } = {};
    for (const [k, v] of Object.entries(template)) out[k] = fillTemplate(v as JsonValue, batch);
    return out;
  }
  return template;
}

/** `count` samples of flat C-order data as nested arrays of one sample's shape. */
function batchToJson(data: Float32Array, count: number, shape: readonly number[]): JsonValue[] {
  const row = sizeOf(shape);
  const nest = (offset: number, axis: number): JsonValue => {
    if (axis === shape.length) return data[offset];
    const stride = sizeOf(shape.slice(axis + 1));
    const out: JsonValue[] = new Array(shape[axis]);
    for (let i = 0; i < shape[axis]; i++) out[i] = nest(offset + i * stride, axis + 1);
    return out;
  };
  const out: JsonValue[] = new Array(count);
  for (let s = 0; s < count; s++) out[s] = nest(s * row, 0);
  return out;
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Aborts when either signal does (AbortSignal.any arrived in Node 20.3). */
function either(a: AbortSignal, b: AbortSignal): AbortSignal {
  if (typeof AbortSignal.any === "function") return AbortSignal.any([a, b]);
  const both = new AbortController();
  for (const s of [a, b]) {
    if (s.aborted) both.abort(s.reason);
    else s.addEventListener("abort", () => both.abort(s.reason), { once: true });
  }
  return both.signal;
}

function errorCode(e: unknown): string | undefined {
  // fetch (undici) rejects with TypeError("fetch failed") and puts the system error in `cause`.
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** At most QUOTE_LIMIT characters of a body, on one line: enough to recognise it, never a whole page. */
function quote(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  if (t === "") return "(empty body)";
  return `'${t.length > QUOTE_LIMIT ? `${t.slice(0, QUOTE_LIMIT)}…` : t}'`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
