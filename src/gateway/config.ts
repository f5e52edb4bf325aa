/**
 * guard.yaml: the gateway's whole configuration, read so that every error names the
 * file, the line and the key. `${NAME}` (or `${NAME:-default}`) in a string takes the
 * environment variable, so secrets stay out of the file. Paths are relative to the file.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { buildPostprocessors, parseDefenceSpecs } from "../defenses/index.js";
import { parseRecipient } from "../encryption/index.js";
import { DEFAULT_BLOCKING_SCANNERS, DEFAULT_DOCUMENT_SCANNERS, DEFAULT_INPUT_SCANNERS, DEFAULT_OUTPUT_SCANNERS, SCANNERS } from "../llm/index.js";
import { MIN_WINDOW } from "../monitoring/index.js";
import { readYamlFile, type YamlPath, YamlReader, type YamlSource } from "../report/yaml.js";
import type { JwtOptions } from "./auth/jwt.js";
import type { DetectorsConfig } from "./detection.js";
import { DRIFT_DETECTOR, type DriftRouteConfig } from "./drift.js";
import type { IncidentRule } from "./incidents/responder.js";
import { LLM_BOUNDS_DEFAULTS, NON_TEXT_PARTS, type NonTextPart } from "./llm-request.js";
import type { RateLimitOptions } from "./plugins/rate-limit.js";
import { QUERY_LOG_DEFAULTS } from "./store/query-log.js";

export interface ModelRouteConfig {
  kind: "model";
  name: string;
  model: string;
  /** Public key the model's signature must verify against before it is served. */
  pub?: string;
  /** The signature (default: <model>.sig, as `aegis sign` writes). */
  sig?: string;
  roles?: string[];
  clipRange: [number, number];
  maxInstances: number;
  detectors?: DetectorsConfig;
  /** Output postprocessors as `aegis defend --postprocess` writes them, e.g. "topk:k=3,round:decimals=2". */
  outputs?: string;
  /** Online drift: the route's traffic in windows, each checked against an `aegis drift fit` detector of its model. */
  drift?: DriftRouteConfig;
}

export interface ProxyRouteConfig {
  kind: "proxy";
  name: string;
  path: string;
  upstream: string;
  upstreamPath?: string;
  timeoutMs: number;
  roles?: string[];
  /** A JSON Schema file for request bodies, or an input shape to derive one from. */
  schema?: string;
  inputShape?: number[];
  clipRange: [number, number];
  maxInstances: number;
  detectors?: DetectorsConfig;
  outputs?: string;
}

export interface LlmRouteConfig {
  kind: "llm";
  name: string;
  /** OpenAI-compatible origin. */
  llm: string;
  prefix: string;
  apiKey?: string;
  roles?: string[];
  timeoutMs: number;
  input: string[];
  output: string[];
  /** Scanners run, after the input ones, on tool and function messages: content that no user typed but the model reads. */
  documents: string[];
  block: string[];
  scannerOptions: Record<string, object>;
  /** Text of the system prompt file, for the leakage scanner. */
  systemPrompt?: string;
  canaries?: string[];
  tokensPerMinute?: number;
  tokenBudgetPerDay?: number;
  /** Bounds on the scanners' work per request, applied before any of it. */
  maxMessages: number;
  maxScannedChars: number;
  scanTimeoutMs: number;
  /** Clients may send system and developer messages (scanned like the rest). */
  allowSystemMessages: boolean;
  /** Non-text content parts admitted, validated and forwarded unscanned. */
  allowedContentParts: NonTextPart[];
  /** Top-level request fields beyond OpenAI's, forwarded with every string in them scanned. */
  extraFields: string[];
}

/** Encrypted prediction (`aegis he compile`'s M.he.json) served by the guard itself: ciphertexts in, ciphertexts out. */
export interface HeRouteConfig {
  kind: "he";
  name: string;
  he: string;
  roles?: string[];
  /** Clients' key sets kept in memory, the least recently used evicted beyond it. */
  maxKeySets: number;
}

export type RouteConfig = ModelRouteConfig | ProxyRouteConfig | LlmRouteConfig | HeRouteConfig;

export interface GuardConfig {
  file: string;
  server: {
    host: string;
    port: number;
    bodyLimit: number;
    requestTimeoutMs: number;
    /** HTTPS; with clientCa, mutual TLS: every client must present a certificate signed by it. */
    tls?: { cert: string; key: string; clientCa?: string };
  };
  /** clientCertRoles: roles of a client certificate by its subject CN (mTLS as authentication). */
  auth: { apiKeys?: string; jwt?: JwtOptions; anonymousRoles?: string[]; clientCertRoles?: Record<string, string[]> };
  rateLimit: Omit<RateLimitOptions, "limiterFactory">;
  /** recipients: X25519 recipients (`aegis-recipient-1:…` lines) the payloads are encrypted to, under payloads "encrypt". */
  auditLog: { path: string; payloads: "hash" | "omit" | "encrypt"; recipients: string[]; maxPayloadBytes: number };
  metrics: { public: boolean };
  incidents: { webhook?: string; throttledRequestsPerMinute: number; rules: IncidentRule[] };
  /** Shared state for several instances (default: SQLite and memory, for one). */
  /** Redis: rate limits, token budgets and the query streams the detectors replay (the last `queryHistory` per client and route); PostgreSQL: audit log and incidents. */
  store: { redis?: string; postgres?: string; queryHistory: number };
  routes: RouteConfig[];
}

const TOP = ["server", "auth", "rateLimit", "auditLog", "metrics", "incidents", "store", "routes"];
const DETECTORS = ["prada", "stateful-knn", "adversarial", "ood"];
/** Detector names an incident rule can name: the query-stream ones, the adversarial-input ones and drift. */
const RULE_DETECTORS = ["prada", "stateful-knn", "ood-rate", "feature-squeezing", "mahalanobis", "knn-ood", "strip", DRIFT_DETECTOR];
/** Rows per drift window when a route does not say. */
const DEFAULT_DRIFT_WINDOW = 200;

export function loadGuardConfig(file: string, env: NodeJS.ProcessEnv = process.env): GuardConfig {
  return parseGuardConfig(readYamlFile(file), env);
}

export function parseGuardConfig(source: YamlSource, env: NodeJS.ProcessEnv = process.env): GuardConfig {
  const r = new YamlReader(source);
  const root = r.map([], substituteEnv(r, [], source.value, env), TOP);
  const base = dirname(source.file);
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p));

  const server = r.map(["server"], root.server ?? {}, ["host", "port", "bodyLimit", "requestTimeoutMs", "tls"]);
  const auth = r.map(["auth"], root.auth ?? {}, ["apiKeys", "jwt", "anonymousRoles", "clientCertRoles"]);
  let tls: GuardConfig["server"]["tls"];
  if (server.tls !== undefined) {
    const t = r.map(["server", "tls"], server.tls, ["cert", "key", "clientCa"]);
    tls = {
      cert: path(r.string(["server", "tls", "cert"], t.cert)),
      key: path(r.string(["server", "tls", "key"], t.key)),
      clientCa: t.clientCa === undefined ? undefined : path(r.string(["server", "tls", "clientCa"], t.clientCa)),
    };
  }
  let clientCertRoles: Record<string, string[]> | undefined;
  if (auth.clientCertRoles !== undefined) {
    if (!tls?.clientCa) r.fail(["auth", "clientCertRoles"], "needs server.tls.clientCa: without mutual TLS there are no client certificates");
    const m = r.map(["auth", "clientCertRoles"], auth.clientCertRoles);
    clientCertRoles = Object.fromEntries(
      Object.entries(m).map(([cn, v]) => [cn, r.list(["auth", "clientCertRoles", cn], v).map((x, i) => r.string(["auth", "clientCertRoles", cn, i], x))]),
    );
  }
  const rate = r.map(["rateLimit"], root.rateLimit ?? {}, ["perKey", "perIp", "perTenant", "concurrency"]);
  const audit = r.map(["auditLog"], root.auditLog ?? {}, ["path", "payloads", "recipients", "maxPayloadBytes"]);
  const metrics = r.map(["metrics"], root.metrics ?? {}, ["public"]);
  const incidents = r.map(["incidents"], root.incidents ?? {}, ["webhook", "throttledRequestsPerMinute", "rules"]);
  const store = r.map(["store"], root.store ?? {}, ["redis", "postgres", "queryHistory"]);
  const url = (key: string, scheme: RegExp, example: string) => {
    if (store[key] === undefined) return undefined;
    const v = r.string(["store", key], store[key]);
    if (!scheme.test(v)) r.fail(["store", key], `must be a URL like ${example}`);
    return v;
  };
  const routes = r.list(["routes"], root.routes ?? []);
  if (routes.length === 0) r.fail(["routes"], "must list at least one route (a local `model:` or an `upstream:`)");
  if (auth.apiKeys === undefined && auth.jwt === undefined && auth.anonymousRoles === undefined && auth.clientCertRoles === undefined) {
    r.fail(["auth"], "must configure apiKeys, jwt, clientCertRoles or anonymousRoles (an open gateway has to be asked for explicitly)");
  }

  const perMinute = (key: string) => {
    if (rate[key] === undefined) return undefined;
    const m = r.map(["rateLimit", key], rate[key], ["requestsPerMinute"]);
    return { requestsPerMinute: r.number(["rateLimit", key, "requestsPerMinute"], m.requestsPerMinute, { min: 1, integer: true }) };
  };
  const roles = (p: YamlPath, v: unknown) => (v === undefined ? undefined : r.list(p, v).map((x, i) => r.string([...p, i], x)));
  const names = new Set<string>();

  return {
    file: source.file,
    server: {
      host: server.host === undefined ? "127.0.0.1" : r.string(["server", "host"], server.host),
      port: server.port === undefined ? 8080 : r.number(["server", "port"], server.port, { min: 0, max: 65535, integer: true }),
      bodyLimit: server.bodyLimit === undefined ? 1024 * 1024 : r.number(["server", "bodyLimit"], server.bodyLimit, { min: 1, integer: true }),
      requestTimeoutMs:
        server.requestTimeoutMs === undefined ? 30_000 : r.number(["server", "requestTimeoutMs"], server.requestTimeoutMs, { min: 1, integer: true }),
      tls,
    },
    auth: {
      apiKeys: auth.apiKeys === undefined ? undefined : path(r.string(["auth", "apiKeys"], auth.apiKeys)),
      jwt: auth.jwt === undefined ? undefined : parseJwt(r, auth.jwt, path),
      anonymousRoles: roles(["auth", "anonymousRoles"], auth.anonymousRoles),
      clientCertRoles,
    },
    rateLimit: {
      perKey: perMinute("perKey"),
      perIp: perMinute("perIp"),
      perTenant: perMinute("perTenant"),
      concurrency: rate.concurrency === undefined ? undefined : r.number(["rateLimit", "concurrency"], rate.concurrency, { min: 1, integer: true }),
    },
    auditLog: parseAuditLog(r, audit, path),
    metrics: { public: metrics.public === undefined ? false : r.boolean(["metrics", "public"], metrics.public) },
    store: {
      redis: url("redis", /^rediss?:\/\//, "redis://127.0.0.1:6379"),
      postgres: url("postgres", /^postgres(ql)?:\/\//, "postgres://aegis:PASSWORD@127.0.0.1/aegis"),
      queryHistory:
        store.queryHistory === undefined ? QUERY_LOG_DEFAULTS.maxEntries : r.number(["store", "queryHistory"], store.queryHistory, { min: 1, integer: true }),
    },
    incidents: {
      webhook: incidents.webhook === undefined ? undefined : r.string(["incidents", "webhook"], incidents.webhook),
      throttledRequestsPerMinute:
        incidents.throttledRequestsPerMinute === undefined
          ? 10
          : r.number(["incidents", "throttledRequestsPerMinute"], incidents.throttledRequestsPerMinute, { min: 1, integer: true }),
      rules: r.list(["incidents", "rules"], incidents.rules ?? []).map((item, i) => {
        const p = ["incidents", "rules", i];
        const m = r.map(p, item, ["detector", "action", "durationSeconds", "degradeTo", "k"]);
        const action = r.string([...p, "action"], m.action, ["block", "throttle", "degrade", "alert"]) as IncidentRule["action"];
        if (action !== "degrade" && (m.degradeTo !== undefined || m.k !== undefined))
          r.fail([...p, m.degradeTo === undefined ? "k" : "degradeTo"], "applies to degrade rules only");
        const detector = r.string([...p, "detector"], m.detector, RULE_DETECTORS);
        // Drift is a property of a route's whole traffic: there is no one client to act on.
        if (detector === DRIFT_DETECTOR && action !== "alert")
          r.fail([...p, "action"], "must be alert for drift, which concerns a route's traffic, not one client");
        const output = m.degradeTo === undefined ? undefined : r.string([...p, "degradeTo"], m.degradeTo, ["labels-only", "shuffled-top-k"]);
        if (m.k !== undefined && output !== "shuffled-top-k") r.fail([...p, "k"], "applies to degradeTo: shuffled-top-k only");
        return {
          detector,
          action,
          durationSeconds: m.durationSeconds === undefined ? undefined : r.number([...p, "durationSeconds"], m.durationSeconds, { min: 1 }),
          degradeTo:
            output === "shuffled-top-k"
              ? { output, k: m.k === undefined ? 3 : r.number([...p, "k"], m.k, { min: 2, integer: true }) }
              : output === "labels-only"
                ? { output }
                : undefined,
        };
      }),
    },
    routes: routes.map((item, i) => {
      const route = parseRoute(r, ["routes", i], item, path, roles);
      if (names.has(route.name)) r.fail(["routes", i, "name"], `"${route.name}" is used by an earlier route; names must be unique`);
      names.add(route.name);
      return route;
    }),
  };
}

function parseAuditLog(r: YamlReader, audit: Record<string, unknown>, path: (p: string) => string): GuardConfig["auditLog"] {
  const payloads = (audit.payloads === undefined ? "hash" : r.string(["auditLog", "payloads"], audit.payloads, ["hash", "omit", "encrypt"])) as
    | "hash"
    | "omit"
    | "encrypt";
  const recipients =
    audit.recipients === undefined ? [] : r.list(["auditLog", "recipients"], audit.recipients).map((v, i) => r.string(["auditLog", "recipients", i], v));
  if (payloads === "encrypt" && recipients.length === 0)
    r.fail(["auditLog", "recipients"], "must list at least one recipient (`aegis encrypt --new-identity ops.id` writes ops.id.pub) for payloads: encrypt");
  if (payloads !== "encrypt" && audit.recipients !== undefined) r.fail(["auditLog", "recipients"], "applies to payloads: encrypt only");
  for (const [i, recipient] of recipients.entries()) {
    try {
      parseRecipient(recipient.startsWith("aegis-recipient-") ? recipient : path(recipient));
    } catch (e) {
      r.fail(["auditLog", "recipients", i], (e as Error).message);
    }
  }
  return {
    path: path(audit.path === undefined ? "aegis-audit.db" : r.string(["auditLog", "path"], audit.path)),
    payloads,
    recipients: recipients.map((v) => (v.startsWith("aegis-recipient-") ? v : path(v))),
    maxPayloadBytes:
      audit.maxPayloadBytes === undefined ? 2 ** 20 : r.number(["auditLog", "maxPayloadBytes"], audit.maxPayloadBytes, { min: 1, integer: true }),
  };
}

function parseRoute(
  r: YamlReader,
  p: YamlPath,
  item: unknown,
  path: (p: string) => string,
  roles: (p: YamlPath, v: unknown) => string[] | undefined,
): RouteConfig {
  if ((item as { llm?: unknown } | null)?.llm !== undefined) return parseLlmRoute(r, p, item, path, roles);
  if ((item as { he?: unknown } | null)?.he !== undefined) return parseHeRoute(r, p, item, path, roles);
  const m = r.map(p, item, [
    "name",
    "model",
    "upstream",
    "path",
    "upstreamPath",
    "timeoutMs",
    "roles",
    "schema",
    "inputShape",
    "clipRange",
    "maxInstances",
    "detectors",
    "outputs",
    "pub",
    "sig",
    "drift",
  ]);
  if ((m.model === undefined) === (m.upstream === undefined))
    r.fail(
      p,
      "needs exactly one of model (a local ONNX file), upstream (an ML endpoint), llm (an OpenAI-compatible endpoint) or he (an encrypted-inference model)",
    );
  const name = r.string([...p, "name"], m.name);
  if (!/^[\w.-]+$/.test(name)) r.fail([...p, "name"], `may only hold letters, digits, ".", "_" and "-", not "${name}"`);
  let clipRange: [number, number] = [0, 1];
  if (m.clipRange !== undefined) {
    const c = r.list([...p, "clipRange"], m.clipRange).map((v, j) => r.number([...p, "clipRange", j], v));
    if (c.length !== 2 || c[0] >= c[1]) r.fail([...p, "clipRange"], "must be [lo, hi] with lo < hi");
    clipRange = [c[0], c[1]];
  }
  const maxInstances = m.maxInstances === undefined ? 256 : r.number([...p, "maxInstances"], m.maxInstances, { min: 1, integer: true });
  const detectors = m.detectors === undefined ? undefined : parseDetectors(r, [...p, "detectors"], m.detectors, path);
  if (detectors?.adversarial && m.upstream !== undefined)
    r.fail([...p, "detectors", "adversarial"], "needs a local model route (the detector is bound to the model file)");
  if (detectors && m.upstream !== undefined && m.inputShape === undefined)
    r.fail([...p, "detectors"], "need the route's inputShape, so the guard can read the instances");
  let outputs: string | undefined;
  if (m.outputs !== undefined) {
    outputs = r.string([...p, "outputs"], m.outputs);
    try {
      buildPostprocessors(parseDefenceSpecs(outputs, "outputs"));
    } catch (e) {
      r.fail([...p, "outputs"], `is not a postprocessor list (${(e as Error).message})`);
    }
  }
  if (m.drift !== undefined && m.upstream !== undefined)
    r.fail([...p, "drift"], "needs a local model route (the drift detector reads the model's own features)");
  const common = { name, roles: roles([...p, "roles"], m.roles), clipRange, maxInstances, detectors, outputs };
  if (m.model !== undefined) {
    for (const key of ["path", "upstreamPath", "timeoutMs", "schema", "inputShape"])
      if (m[key] !== undefined) r.fail([...p, key], "applies to upstream routes only");
    if (m.sig !== undefined && m.pub === undefined) r.fail([...p, "sig"], "needs pub, the public key to verify it with");
    return {
      kind: "model",
      ...common,
      model: path(r.string([...p, "model"], m.model)),
      pub: m.pub === undefined ? undefined : path(r.string([...p, "pub"], m.pub)),
      sig: m.sig === undefined ? undefined : path(r.string([...p, "sig"], m.sig)),
      drift: m.drift === undefined ? undefined : parseDrift(r, [...p, "drift"], m.drift, path),
    };
  }
  const upstream = r.string([...p, "upstream"], m.upstream);
  if (!/^https?:\/\/[^/]+\/?$/.test(upstream)) r.fail([...p, "upstream"], `must be an http(s) origin like http://10.0.0.5:8501, not "${upstream}"`);
  if (m.schema !== undefined && m.inputShape !== undefined) r.fail([...p, "schema"], "give schema or inputShape, not both");
  return {
    kind: "proxy",
    ...common,
    upstream,
    path: m.path === undefined ? `/v1/models/${name}:predict` : r.string([...p, "path"], m.path),
    upstreamPath: m.upstreamPath === undefined ? undefined : r.string([...p, "upstreamPath"], m.upstreamPath),
    timeoutMs: m.timeoutMs === undefined ? 10_000 : r.number([...p, "timeoutMs"], m.timeoutMs, { min: 1, integer: true }),
    schema: m.schema === undefined ? undefined : path(r.string([...p, "schema"], m.schema)),
    inputShape:
      m.inputShape === undefined
        ? undefined
        : r.list([...p, "inputShape"], m.inputShape).map((v, j) => r.number([...p, "inputShape", j], v, { min: 1, integer: true })),
  };
}

function parseHeRoute(
  r: YamlReader,
  p: YamlPath,
  item: unknown,
  path: (p: string) => string,
  roles: (p: YamlPath, v: unknown) => string[] | undefined,
): HeRouteConfig {
  const m = r.map(p, item, ["name", "he", "roles", "maxKeySets"]);
  const name = r.string([...p, "name"], m.name);
  if (!/^[\w.-]+$/.test(name)) r.fail([...p, "name"], `may only hold letters, digits, ".", "_" and "-", not "${name}"`);
  return {
    kind: "he",
    name,
    he: path(r.string([...p, "he"], m.he)),
    roles: roles([...p, "roles"], m.roles),
    maxKeySets: m.maxKeySets === undefined ? 16 : r.number([...p, "maxKeySets"], m.maxKeySets, { min: 1, integer: true }),
  };
}

function parseLlmRoute(
  r: YamlReader,
  p: YamlPath,
  item: unknown,
  path: (p: string) => string,
  roles: (p: YamlPath, v: unknown) => string[] | undefined,
): LlmRouteConfig {
  const keys = [
    "name",
    "llm",
    "prefix",
    "apiKey",
    "roles",
    "timeoutMs",
    "input",
    "output",
    "documents",
    "block",
    "scannerOptions",
    "systemPrompt",
    "canaries",
    "tokensPerMinute",
    "tokenBudgetPerDay",
    "maxMessages",
    "maxScannedChars",
    "scanTimeoutMs",
    "allowSystemMessages",
    "allowedContentParts",
    "extraFields",
  ];
  const m = r.map(p, item, keys);
  const name = r.string([...p, "name"], m.name);
  if (!/^[\w.-]+$/.test(name)) r.fail([...p, "name"], `may only hold letters, digits, ".", "_" and "-", not "${name}"`);
  const llm = r.string([...p, "llm"], m.llm);
  if (!/^https?:\/\/[^/]+\/?$/.test(llm)) r.fail([...p, "llm"], `must be an http(s) origin like http://127.0.0.1:8000, not "${llm}"`);
  const known = SCANNERS.map((s) => s.name);
  const names = (key: string, fallback: readonly string[]) =>
    m[key] === undefined ? [...fallback] : r.list([...p, key], m[key]).map((v, i) => r.string([...p, key, i], v, known));
  const prefix = m.prefix === undefined ? "/v1" : r.string([...p, "prefix"], m.prefix);
  if (!/^\/[\w/.-]*[^/]$/.test(prefix)) r.fail([...p, "prefix"], `must be a path like /v1, not "${prefix}"`);
  const options = m.scannerOptions === undefined ? {} : r.map([...p, "scannerOptions"], m.scannerOptions, known);
  let systemPrompt: string | undefined;
  if (m.systemPrompt !== undefined) {
    const file = path(r.string([...p, "systemPrompt"], m.systemPrompt));
    try {
      systemPrompt = readFileSync(file, "utf8");
    } catch {
      r.fail([...p, "systemPrompt"], `names ${file}, which cannot be read`);
    }
  }
  const positive = (key: string) => (m[key] === undefined ? undefined : r.number([...p, key], m[key], { min: 1, integer: true }));
  const bound = (key: keyof typeof LLM_BOUNDS_DEFAULTS) => positive(key) ?? LLM_BOUNDS_DEFAULTS[key];
  const strings = (key: string, allowed?: readonly string[]) =>
    m[key] === undefined ? [] : r.list([...p, key], m[key]).map((v, i) => r.string([...p, key, i], v, allowed));
  return {
    kind: "llm",
    name,
    llm,
    prefix,
    apiKey: m.apiKey === undefined ? undefined : r.string([...p, "apiKey"], m.apiKey),
    roles: roles([...p, "roles"], m.roles),
    timeoutMs: m.timeoutMs === undefined ? 120_000 : r.number([...p, "timeoutMs"], m.timeoutMs, { min: 1, integer: true }),
    input: names("input", DEFAULT_INPUT_SCANNERS),
    output: names("output", DEFAULT_OUTPUT_SCANNERS),
    documents: names("documents", DEFAULT_DOCUMENT_SCANNERS),
    block: names("block", DEFAULT_BLOCKING_SCANNERS),
    scannerOptions: Object.fromEntries(Object.entries(options).map(([k, v]) => [k, r.map([...p, "scannerOptions", k], v)])),
    systemPrompt,
    canaries: m.canaries === undefined ? undefined : r.list([...p, "canaries"], m.canaries).map((v, i) => r.string([...p, "canaries", i], v)),
    tokensPerMinute: positive("tokensPerMinute"),
    tokenBudgetPerDay: positive("tokenBudgetPerDay"),
    maxMessages: bound("maxMessages"),
    maxScannedChars: bound("maxScannedChars"),
    scanTimeoutMs: bound("scanTimeoutMs"),
    allowSystemMessages: m.allowSystemMessages === undefined ? false : r.boolean([...p, "allowSystemMessages"], m.allowSystemMessages),
    allowedContentParts: strings("allowedContentParts", NON_TEXT_PARTS) as NonTextPart[],
    extraFields: strings("extraFields"),
  };
}

function parseDetectors(r: YamlReader, p: YamlPath, value: unknown, path: (p: string) => string): DetectorsConfig {
  const m = r.map(p, value, DETECTORS);
  const out: DetectorsConfig = {};
  if (m.adversarial !== undefined) {
    const d = r.map([...p, "adversarial"], m.adversarial, ["file", "reject"]);
    out.adversarial = {
      file: path(r.string([...p, "adversarial", "file"], d.file)),
      reject: d.reject === undefined ? false : r.boolean([...p, "adversarial", "reject"], d.reject),
    };
  }
  if (m.ood !== undefined) {
    const q = [...p, "ood"];
    const d = r.map(q, m.ood, ["file", "p0", "p1", "h"]);
    const probability = (key: string) =>
      d[key] === undefined ? {} : { [key]: r.number([...q, key], d[key], { min: Number.MIN_VALUE, max: 1 - Number.EPSILON }) };
    out.ood = {
      file: path(r.string([...q, "file"], d.file)),
      ...probability("p0"),
      ...probability("p1"),
      ...(d.h === undefined ? {} : { h: r.number([...q, "h"], d.h, { min: Number.MIN_VALUE }) }),
    };
  }
  if (m.prada !== undefined) {
    const d = r.map([...p, "prada"], m.prada ?? {}, ["delta", "minQueries", "maxHistory"]);
    out.prada = {
      ...(d.delta === undefined ? {} : { delta: r.number([...p, "prada", "delta"], d.delta, { min: 0, max: 1 }) }),
      ...(d.minQueries === undefined ? {} : { minQueries: r.number([...p, "prada", "minQueries"], d.minQueries, { min: 3, max: 5000, integer: true }) }),
      ...(d.maxHistory === undefined ? {} : { maxHistory: r.number([...p, "prada", "maxHistory"], d.maxHistory, { min: 10, integer: true }) }),
    };
  }
  if (m["stateful-knn"] !== undefined) {
    const q = [...p, "stateful-knn"];
    const d = r.map(q, m["stateful-knn"], ["threshold", "k", "maxHistory"]);
    out.statefulKnn = {
      threshold: r.number([...q, "threshold"], d.threshold, { min: Number.MIN_VALUE }),
      ...(d.k === undefined ? {} : { k: r.number([...q, "k"], d.k, { min: 1, integer: true }) }),
      ...(d.maxHistory === undefined ? {} : { maxHistory: r.number([...q, "maxHistory"], d.maxHistory, { min: 2, integer: true }) }),
    };
  }
  return out;
}

function parseDrift(r: YamlReader, p: YamlPath, value: unknown, path: (p: string) => string): DriftRouteConfig {
  const d = r.map(p, value, ["detector", "window", "alpha", "permutations"]);
  return {
    detector: path(r.string([...p, "detector"], d.detector)),
    window: d.window === undefined ? DEFAULT_DRIFT_WINDOW : r.number([...p, "window"], d.window, { min: MIN_WINDOW, integer: true }),
    ...(d.alpha === undefined ? {} : { alpha: r.number([...p, "alpha"], d.alpha, { min: Number.MIN_VALUE, max: 1 - Number.EPSILON }) }),
    ...(d.permutations === undefined ? {} : { permutations: r.number([...p, "permutations"], d.permutations, { min: 1, integer: true }) }),
  };
}

function parseJwt(r: YamlReader, value: unknown, path: (p: string) => string): JwtOptions {
  const keys = ["jwksUrl", "publicKeyFile", "secret", "issuer", "audience", "rolesClaim", "tenantClaim", "algorithms"];
  const m = r.map(["auth", "jwt"], value, keys);
  const s = (k: string) => (m[k] === undefined ? undefined : r.string(["auth", "jwt", k], m[k]));
  const sources = ["jwksUrl", "publicKeyFile", "secret"].filter((k) => m[k] !== undefined);
  if (sources.length !== 1) r.fail(["auth", "jwt"], "needs exactly one of jwksUrl, publicKeyFile or secret");
  return {
    jwksUrl: s("jwksUrl"),
    publicKeyFile: m.publicKeyFile === undefined ? undefined : path(r.string(["auth", "jwt", "publicKeyFile"], m.publicKeyFile)),
    secret: s("secret"),
    issuer: s("issuer"),
    audience: s("audience"),
    rolesClaim: s("rolesClaim"),
    tenantClaim: s("tenantClaim"),
    algorithms:
      m.algorithms === undefined ? undefined : r.list(["auth", "jwt", "algorithms"], m.algorithms).map((v, i) => r.string(["auth", "jwt", "algorithms", i], v)),
  };
}

/** Replaces ${NAME} and ${NAME:-default} in every string; an unset variable without a default is an error at its line. */
function substituteEnv(r: YamlReader, p: YamlPath, value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
      const v = env[name] ?? fallback;
      if (v === undefined) r.fail(p, `uses \${${name}}, but the environment variable ${name} is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(r, [...p, i], v, env));
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(r, [...p, k], v, env)]));
  return value;
}
