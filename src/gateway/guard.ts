/**
 * `aegis guard`: the gateway assembled from guard.yaml. Controls run as fastify plugins in
 * a fixed order — context, auth, rate limits, audit log, metrics — in front of the
 * routes (local ONNX models and upstream ML endpoints). One HTTP server stays bound
 * while configurations come and go: a reload (SIGHUP) builds a new application, points
 * new requests at it, and closes the old one when its last request has finished, so no
 * request is dropped.
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import {
  buildPostprocessors,
  type FeatureSource,
  INPUT_LAYER,
  type LoadedDetector,
  layerFeatures,
  loadDetector,
  loadInputSpaceDetector,
  parseDefenceSpecs,
  readDetectorFile,
} from "../defenses/index.js";
import { findKey, parseRecipient } from "../encryption/index.js";
import { OnnxClassifier } from "../engine/classifier.js";
import { createFeatureExtractor } from "../engine/features.js";
import { AegisError } from "../errors.js";
import { createPipeline, scannerByName } from "../llm/index.js";
import { loadModel } from "../onnx/io.js";
import { signatureOf, verifyModelSignature } from "../supplychain/index.js";
import { alertedDecisions } from "./alerts.js";
import { ApiKeyVerifier, readKeysFile } from "./auth/api-keys.js";
import { createJwtVerifier } from "./auth/jwt.js";
import { type GuardConfig, type HeRouteConfig, type LlmRouteConfig, loadGuardConfig, type ProxyRouteConfig } from "./config.js";
import { clientId } from "./context.js";
import { dashboard } from "./dashboard/api.js";
import { adversarialHook, type ClientState, type DetectionOptions, type DetectorsConfig, degradeHook, detectionHook, outputHook } from "./detection.js";
import { openRouteDrift, watchDrift } from "./drift.js";
import { IncidentResponder } from "./incidents/responder.js";
import { type LlmRoute, llmRoutes, modelCatalog } from "./llm-route.js";
import { modelRoutes, type PredictionHook, type ServedModel } from "./model-route.js";
import { auditLogPlugin } from "./plugins/audit-log.js";
import { authPlugin } from "./plugins/auth.js";
import { contextPlugin } from "./plugins/context.js";
import { incidentsPlugin } from "./plugins/incidents.js";
import { createGuardMetrics, type GuardMetrics, metricsPlugin } from "./plugins/metrics.js";
import { rateLimitPlugin } from "./plugins/rate-limit.js";
import { type ProxyRoute, proxyRoutes } from "./proxy-route.js";
import { installErrorHandlers } from "./server.js";
import { sharedForwardPass } from "./shared-forward-pass.js";
import { openStores, type Stores, storesKey } from "./store/index.js";
import { InstanceValidator, type JsonSchema, predictRequestSchema } from "./validation.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What outlives a reload: the metrics and what the detectors have seen of each client. */
interface Shared {
  metrics: GuardMetrics;
  detectorState: Map<string, Map<string, ClientState>>;
}

interface Generation {
  app: FastifyInstance;
  responder: IncidentResponder;
  handler: Handler;
  inFlight: number;
  retired: boolean;
}

/** Takes a release to run when the generation closes (or fails to build). */
type Hold = (release: () => Promise<void>) => void;

export interface RunningGuard {
  url: string;
  config: GuardConfig;
  /** Re-reads the config file; on error the running configuration stays and the error is thrown. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function startGuard(configFile: string, options: { env?: NodeJS.ProcessEnv; logLevel?: string | false } = {}): Promise<RunningGuard> {
  let config = loadGuardConfig(configFile, options.env);
  let stores = await openStores(config);
  const shared: Shared = { metrics: createGuardMetrics(() => current.responder.blockedClients()), detectorState: new Map() };
  let current = await buildGeneration(config, stores, shared, options.logLevel ?? false).catch(async (e) => {
    await stores.close();
    throw e;
  });

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const generation = current;
    generation.inFlight++;
    res.once("close", () => {
      generation.inFlight--;
      if (generation.retired && generation.inFlight === 0) void retire(generation);
    });
    generation.handler(req, res);
  };
  const tls = config.server.tls;
  const server = tls
    ? createHttpsServer(
        {
          cert: readFileSync(tls.cert),
          key: readFileSync(tls.key),
          ...(tls.clientCa ? { ca: readFileSync(tls.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
        },
        handle,
      )
    : createHttpServer(handle);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) =>
      reject(new AegisError("BAD_OPTION", `cannot listen on ${config.server.host}:${config.server.port} (${e.message})`, { cause: e })),
    );
    server.listen(config.server.port, config.server.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.server.host.includes(":") ? `[${config.server.host}]` : config.server.host;

  const guard: RunningGuard = {
    url: `${tls ? "https" : "http"}://${host}:${port}`,
    config,
    async reload() {
      const next = loadGuardConfig(configFile, options.env);
      const same = storesKey(next) === stores.key;
      const nextStores = same ? stores : await openStores(next);
      const generation = await buildGeneration(next, nextStores, shared, options.logLevel ?? false).catch(async (e: unknown) => {
        if (!same) await nextStores.close();
        throw e;
      });
      const previous = current;
      current = generation;
      if (!same) {
        const old = stores;
        stores = nextStores;
        // The old stores close once the old generation has written its last entry.
        previous.app.addHook("onClose", async () => old.close());
      }
      config = next;
      guard.config = next;
      previous.retired = true;
      if (previous.inFlight === 0) await retire(previous);
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      current.retired = true;
      await retire(current);
      await stores.close();
    },
  };
  return guard;
}

async function retire(generation: Generation): Promise<void> {
  await generation.app.close();
}

/**
 * Builds one generation. What it opens (ONNX sessions, detectors, drift watches) is released
 * when its app closes, or at once when building fails partway, so a reload that fails on the
 * third route does not leak the first two routes' sessions.
 */
async function buildGeneration(config: GuardConfig, stores: Stores, shared: Shared, logLevel: string | false): Promise<Generation> {
  const held: (() => Promise<void>)[] = [];
  const releaseHeld = async () => {
    for (const release of held.splice(0).reverse()) await release();
  };
  try {
    return await buildApp(config, stores, shared, logLevel, (release) => held.push(release), releaseHeld);
  } catch (e) {
    await releaseHeld();
    throw e;
  }
}

async function buildApp(
  config: GuardConfig,
  stores: Stores,
  shared: Shared,
  logLevel: string | false,
  hold: Hold,
  releaseHeld: () => Promise<void>,
): Promise<Generation> {
  let handler: Handler | undefined;
  const app = Fastify({
    bodyLimit: config.server.bodyLimit,
    requestTimeout: config.server.requestTimeoutMs,
    logger: logLevel ? { level: logLevel, stream: process.stderr } : false,
    // The listening server is the guard's own; each generation only provides the handler.
    serverFactory: (h) => {
      handler = h;
      return createHttpServer(h);
    },
  });
  app.addHook("onClose", releaseHeld);
  installErrorHandlers(app);
  const jwt = config.auth.jwt ? await createJwtVerifier(config.auth.jwt) : undefined;
  const apiKeys = config.auth.apiKeys ? new ApiKeyVerifier(readKeysFile(config.auth.apiKeys)) : undefined;

  await app.register(contextPlugin);
  await app.register(authPlugin, { apiKeys, jwt, anonymousRoles: config.auth.anonymousRoles, clientCertRoles: config.auth.clientCertRoles });
  const { auditLog, incidents } = stores;
  const responder = new IncidentResponder(incidents, config.incidents.rules, {
    webhook: config.incidents.webhook,
    log: (m) => app.log.warn(m),
    onOpened: (incident) => shared.metrics.incidents.inc({ detector: incident.detector, action: incident.action }),
  });
  hold(async () => responder.close());
  await responder.refresh();
  await app.register(rateLimitPlugin, { ...config.rateLimit, limiterFactory: stores.limiters });
  await app.register(incidentsPlugin, { responder, throttledRequestsPerMinute: config.incidents.throttledRequestsPerMinute, limiters: stores.limiters });
  await app.register(auditLogPlugin, {
    log: auditLog,
    payloads: config.auditLog.payloads,
    recipients: config.auditLog.recipients.map((r) => parseRecipient(r)),
    maxPayloadBytes: config.auditLog.maxPayloadBytes,
  });
  await app.register(metricsPlugin, { metrics: shared.metrics, public: config.metrics.public });
  for (const labels of alertedDecisions(config)) shared.metrics.decisions.inc(labels, 0);
  app.get("/healthz", { config: { public: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { config: { public: true } }, async () => ({ status: "ready", routes: config.routes.map((r) => r.name) }));

  const models: ServedModel[] = [];
  const proxies: ProxyRoute[] = [];
  const llms: LlmRoute[] = [];
  const encrypted: HeRouteConfig[] = [];
  for (const route of config.routes) {
    if (route.kind === "llm") {
      llms.push(llmRoute(route));
      continue;
    }
    if (route.kind === "he") {
      encrypted.push(route);
      continue;
    }
    const hooks: PredictionHook[] = [];
    const detectors = route.detectors;
    // The signature first: the detectors below read the model file.
    if (route.kind === "model" && route.pub) await verifyOrRefuse(route.model, route.sig, route.pub);
    const drift = route.kind === "model" && route.drift ? openRouteDrift(route.name, route.model, route.drift) : undefined;
    const driftLayer = drift?.detector.method === "mmd" ? drift.model.layer : undefined;
    // A k-NN OOD detector of one of the model's layers, or else a drift detector's, shares the route's forward pass.
    const sharedLayer = (route.kind === "model" && detectors?.ood ? knnOodLayer(detectors.ood.file) : undefined) ?? driftLayer;
    const forwardPass = route.kind === "model" && sharedLayer !== undefined ? await sharedPassFor(route.model, route.clipRange, sharedLayer, hold) : undefined;
    const loadRouteDetector = async (file: string) => {
      // An upstream's model is not here: only a detector of the raw input can watch it.
      const loaded = route.kind === "model" ? await loadDetector(file, route.model, {}, { features: forwardPass?.features }) : loadInputSpaceDetector(file);
      hold(async () => loaded.release());
      return loaded;
    };
    if (detectors?.prada || detectors?.statefulKnn || detectors?.ood) {
      // A new store (e.g. Redis added) starts new streams, so the clients start afresh too.
      const key = `${route.name}:${JSON.stringify(detectors)}:${stores.key}`;
      const state = shared.detectorState.get(key) ?? new Map();
      shared.detectorState.set(key, state);
      const queryStreams = stores.queryLog && { log: stores.queryLog, range: route.clipRange };
      const ood = detectors.ood && oodRate(detectors.ood, await loadRouteDetector(detectors.ood.file));
      hooks.push(detectionHook({ route: route.name, config: detectors, responder, perClient: state, ood, shared: queryStreams, logger: app.log }));
    }
    if (route.kind === "model" && route.drift && drift) {
      // Before the output controls, so the detector sees the model's own answers.
      const features = driftLayer === undefined ? undefined : await driftFeatures(route.model, driftLayer, forwardPass?.features, hold);
      const watch = await watchDrift({ route: route.name, file: drift, config: route.drift, features, metrics: shared.metrics, responder, log: app.log });
      hold(async () => watch.close());
      hooks.push(watch.hook);
    }
    if (route.outputs) hooks.push(outputHook(buildPostprocessors(parseDefenceSpecs(route.outputs, "outputs"))));
    hooks.push(degradeHook(responder, config.incidents.rules));
    if (route.kind === "model") {
      if (detectors?.adversarial) {
        // Before the output controls, so the detector sees the model's own answer.
        hooks.unshift(adversarialHook(route.name, (await loadRouteDetector(detectors.adversarial.file)).detector, detectors.adversarial.reject, responder));
      }
      const classifier = forwardPass?.predictor ?? (await OnnxClassifier.fromFile(route.model, { clipRange: route.clipRange }));
      if (!forwardPass) hold(async () => classifier.release());
      models.push({ name: route.name, classifier, maxInstances: route.maxInstances, roles: route.roles, afterPredict: hooks });
    } else {
      proxies.push({
        ...route,
        validate: proxyValidator(route),
        afterPredict: hooks,
        mustInspect: (request) => route.outputs !== undefined || responder.status(clientId(request.aegis, request.ip)).degraded !== undefined,
      });
    }
  }
  // GET /v1/models is both the model server's list and OpenAI's: an LLM route at /v1 merges its upstream's list in.
  const llmAtV1 = llms.find((r) => r.prefix === "/v1");
  await app.register(modelRoutes, { models, openAiModels: llmAtV1 && modelCatalog(llmAtV1) });
  await app.register(proxyRoutes, { routes: proxies });
  await app.register(llmRoutes, { routes: llms, limiters: stores.limiters, modelsServedElsewhere: "/v1" });
  if (encrypted.length > 0) await registerEncryptedRoutes(app, encrypted);
  await app.register(dashboard, { auditLog, responder });
  await app.ready();
  if (!handler) throw new Error("fastify did not call its serverFactory");
  return { app, responder, handler, inFlight: 0, retired: false };
}

/**
 * Encrypted-inference routes: the guard itself evaluates on ciphertexts, in a worker thread
 * per model, behind its auth, rate limits and audit log (which hashes the ciphertext and
 * never sees a plaintext). SEAL's WebAssembly is loaded only when a route needs it.
 */
async function registerEncryptedRoutes(app: FastifyInstance, routes: readonly HeRouteConfig[]): Promise<void> {
  const { heRoutes, readHeModel, startHeService } = await import("../privacy/index.js");
  const models = await Promise.all(
    routes.map(async (r) => ({ roles: r.roles, service: await startHeService(r.name, readHeModel(r.he), { maxKeySets: r.maxKeySets }) })),
  );
  await app.register(heRoutes, { models });
}

/** The layer of the route's model a k-NN OOD detector file reads, if it reads one. */
function knnOodLayer(detectorFile: string): string | undefined {
  const file = readDetectorFile(detectorFile);
  const layer = (file.params as { layer?: string }).layer;
  return file.detector !== "knn-ood" || layer === INPUT_LAYER ? undefined : layer;
}

/** One extractor of `layer` for both the route's predictions and its detectors. */
async function sharedPassFor(model: string, clipRange: [number, number], layer: string, hold: Hold) {
  const classifier = await OnnxClassifier.fromFile(model, { clipRange });
  const extractor = await createFeatureExtractor(loadModel(model), { layer }).catch(async (e: unknown) => {
    await classifier.release();
    throw e;
  });
  const pass = sharedForwardPass(classifier, extractor);
  hold(async () => pass.predictor.release());
  return pass;
}

/** The drift detector's layer: from the route's shared forward pass when it reads the same one, else from an extractor of its own (a second forward pass per request). */
async function driftFeatures(model: string, layer: string, shared: FeatureSource | undefined, hold: Hold): Promise<FeatureSource> {
  if (shared?.layer === layer) return shared;
  const extractor = await createFeatureExtractor(loadModel(model), { layer });
  hold(async () => extractor.release());
  return layerFeatures(extractor);
}

/** The "ood-rate" test's options: p0 from the config, else the false-positive rate the detector was fitted at. */
function oodRate(config: NonNullable<DetectorsConfig["ood"]>, loaded: LoadedDetector): NonNullable<DetectionOptions["ood"]> {
  const { file, ...rate } = config;
  const p0 = rate.p0 ?? loaded.file.fpr;
  if (p0 === null || p0 === undefined)
    throw new AegisError(
      "BAD_OPTION",
      `${file} does not record the false-positive rate it was fitted at; set detectors.ood.p0 to the share of clean inputs it flags`,
    );
  return { detector: loaded.detector, rate: { ...rate, p0 } };
}

function proxyValidator(route: ProxyRouteConfig): ProxyRoute["validate"] {
  const info = { inputShape: route.inputShape ?? [], numClasses: 0, clipRange: route.clipRange, outputKind: "probs" as const };
  if (route.inputShape) {
    const validator = new InstanceValidator(info, predictRequestSchema(info, { maxInstances: route.maxInstances }));
    // Only the detectors need the instances as numbers; validation alone does not.
    if (route.detectors) return (body) => validator.batchFromJson(body);
    return (body) => {
      validator.checkJson(body);
      return undefined;
    };
  }
  if (!route.schema) return undefined;
  let schema: JsonSchema;
  try {
    schema = JSON.parse(readFileSync(route.schema, "utf8")) as JsonSchema;
  } catch (e) {
    throw new AegisError("BAD_OPTION", `routes.${route.name}.schema: cannot read ${route.schema} as JSON (${(e as Error).message})`, { cause: e });
  }
  const validator = new InstanceValidator(info, schema);
  return (body) => {
    validator.checkJson(body);
    return undefined;
  };
}

function llmRoute(route: LlmRouteConfig): LlmRoute {
  const scanners = (names: string[]) => names.map((n) => scannerByName(n, route.scannerOptions[n]));
  return {
    ...route,
    upstream: route.llm,
    input: createPipeline("input", scanners(route.input), { block: route.block }),
    output: createPipeline("output", scanners(route.output), { block: route.block }),
    documents: createPipeline("input", scanners(route.documents), { block: route.block }),
    bounds: {
      maxMessages: route.maxMessages,
      maxScannedChars: route.maxScannedChars,
      allowSystemMessages: route.allowSystemMessages,
      allowedContentParts: route.allowedContentParts,
      extraFields: route.extraFields,
      systemPrompt: route.systemPrompt,
    },
  };
}

/** A model route with `pub` is served only if its signature verifies (OpenSSF model signing, `aegis sign`). */
async function verifyOrRefuse(model: string, sig: string | undefined, pub: string): Promise<void> {
  const result = await verifyModelSignature(model, sig ?? signatureOf(model), pub, { key: findKey() });
  if (result.valid) return;
  const changed = [...result.added, ...result.removed, ...result.changed];
  throw new AegisError(
    "INTEGRITY_FAILED",
    `refusing to serve ${model}: its signature does not verify (${result.reason}${changed.length ? `: ${changed.join(", ")}` : ""})`,
  );
}
