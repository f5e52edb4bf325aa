/**
 * Serves ONNX classifiers the way KServe v1 and TensorFlow Serving do:
 * `POST /v1/models/{name}:predict` with `{"instances": [...]}` answers
 * `{"predictions": [...]}` (class probabilities per instance). A binary body
 * (`Content-Type: application/x-npy`, a float32 array) skips JSON for large batches.
 * `GET /v1/models/{name}` describes a model and `…/schema` publishes its request schema.
 */
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { parseNpy } from "../data/npy.js";
import type { OnnxClassifier } from "../engine/classifier.js";
import { probabilitiesOf } from "../engine/probabilities.js";
import { AegisError } from "../errors.js";
import { type Tensor, toFloat32 } from "../tensor.js";
import type { ModelCatalog } from "./llm-route.js";
import { InstanceValidator, predictRequestSchema, RequestError } from "./validation.js";

/** What a route needs of its model: an OnnxClassifier, or a wrapper that shares its forward pass. */
export type ServedClassifier = Pick<OnnxClassifier, "inputShape" | "numClasses" | "clipRange" | "outputKind" | "predict" | "release">;

export interface ServedModel {
  /** The name in the URL (the model file's base name by default). */
  name: string;
  classifier: ServedClassifier;
  /** Most instances in one request. */
  maxInstances: number;
  /** Roles allowed to query this model (any authenticated client when absent). */
  roles?: readonly string[];
  /**
   * Run after the model, in order: detectors record decisions on the request, output
   * controls return the probabilities the client should see instead.
   */
  afterPredict?: readonly PredictionHook[];
}

export type PredictionHook = (
  request: FastifyRequest,
  x: Tensor<"float32">,
  probs: Tensor<"float32">,
) => Promise<Tensor<"float32"> | undefined> | Tensor<"float32"> | undefined;

interface Route {
  served: ServedModel;
  validator: InstanceValidator;
}

export const NPY_CONTENT_TYPE = "application/x-npy";

export const modelRoutes: FastifyPluginAsync<{
  models: readonly ServedModel[];
  /** An OpenAI-compatible LLM's models, served at the same paths: its list merged into GET /v1/models, its models at GET /v1/models/{id}. */
  openAiModels?: ModelCatalog;
}> = async (app, { models, openAiModels }) => {
  const routes = new Map<string, Route>();
  for (const served of models) {
    const schema = predictRequestSchema(served.classifier, { maxInstances: served.maxInstances });
    routes.set(served.name, { served, validator: new InstanceValidator(served.classifier, schema) });
  }
  for (const name of routes.keys()) {
    if (!/^[\w.-]+$/.test(name)) throw new AegisError("BAD_OPTION", `model name "${name}" may only hold letters, digits, ".", "_" and "-"`);
  }
  const find = (name: string): Route => {
    const route = routes.get(name);
    if (!route) throw new RequestError(404, "MODEL_NOT_FOUND", `no model named "${name}"; this server has ${[...routes.keys()].join(", ")}`);
    return route;
  };

  app.addContentTypeParser(NPY_CONTENT_TYPE, { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  app.get("/v1/models", async (request) => {
    const listed = { models: [...routes.values()].map((r) => describeModel(r.served)) };
    // OpenAI's clients read `data`, KServe's `models`: one answer serves both.
    return openAiModels ? { ...(await openAiModels.list(request)), ...listed } : listed;
  });
  for (const { served, validator } of routes.values()) {
    // A literal colon in a fastify path is written "::".
    const base = `/v1/models/${served.name}`;
    const config = { routeName: served.name, roles: served.roles, jsonBodyAsText: true };
    app.get(base, { config }, async () => describeModel(served));
    app.get(`${base}/schema`, { config }, async () => validator.schema);
    app.post(`${base}::predict`, { config }, async (request) => {
      const x = Buffer.isBuffer(request.body) ? validator.checkBatch(npyBatch(request.body)) : validator.batchFromJson(request.body);
      let probs = probabilitiesOf(served.classifier, await served.classifier.predict(x));
      for (const hook of served.afterPredict ?? []) probs = (await hook(request, x, probs)) ?? probs;
      const k = probs.shape[1];
      const predictions: number[][] = [];
      for (let i = 0; i < probs.shape[0]; i++) predictions.push(Array.from(probs.data.subarray(i * k, (i + 1) * k)));
      return { predictions };
    });
  }
  // Anything else under /v1/models gets a 404 that says which models exist.
  app.all("/v1/models/:target", async (request) => {
    const target = (request.params as { target: string }).target;
    const colon = target.lastIndexOf(":");
    const name = colon < 0 ? target : target.slice(0, colon);
    if (openAiModels && request.method === "GET" && colon < 0) return openAiModels.retrieve(request, target);
    if (!routes.has(name)) find(name);
    throw new RequestError(
      404,
      "NOT_FOUND",
      `${request.method} /v1/models/{name}:predict is the prediction route; "${target.slice(colon + 1)}" is not a verb this server knows`,
    );
  });
};

function npyBatch(body: Buffer) {
  try {
    const t = parseNpy(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), "the request body");
    if (t.dtype !== "float32" && t.dtype !== "float64") throw new RequestError(400, "INVALID_INPUT", `the array is ${t.dtype}; send float32 or float64`);
    return toFloat32(t);
  } catch (e) {
    // Only our own errors describe the body; anything else is a bug, answered 500 without its text.
    if (e instanceof AegisError) throw new RequestError(400, "INVALID_INPUT", `the body is not a valid .npy array: ${e.message}`);
    throw e;
  }
}

function describeModel({ name, classifier }: ServedModel) {
  return {
    name,
    ready: true,
    inputShape: classifier.inputShape,
    numClasses: classifier.numClasses,
    inputRange: classifier.clipRange,
    outputs: "probabilities",
  };
}
