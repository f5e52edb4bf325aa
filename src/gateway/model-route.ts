/**
 * Serves ONNX classifiers the way KServe v1 and TensorFlow Serving do:
 * `POST /v1/models/{name}:predict` with `{"instances": [...]}` answers
 * `{"predictions": [...]}` (class probabilities per instance). A binary body
 * (`Content-Type: application/x-npy`, a float32 array) skips JSON for large batches.
 * `GET /v1/models/{name}` describes a model and `…/schema` publishes its request schema.
 */
import type { FastifyPluginAsync } from "fastify";
import { parseNpy } from "../data/npy.js";
import type { OnnxClassifier } from "../engine/classifier.js";
import { probabilitiesOf } from "../engine/probabilities.js";
import { toFloat32 } from "../tensor.js";
import { InstanceValidator, predictRequestSchema, RequestError } from "./validation.js";

export interface ServedModel {
  /** The name in the URL (the model file's base name by default). */
  name: string;
  classifier: OnnxClassifier;
  /** Most instances in one request. */
  maxInstances: number;
}

interface Route {
  served: ServedModel;
  validator: InstanceValidator;
}

export const NPY_CONTENT_TYPE = "application/x-npy";

export const modelRoutes: FastifyPluginAsync<{ models: readonly ServedModel[] }> = async (app, { models }) => {
  const routes = new Map<string, Route>();
  for (const served of models) {
    const schema = predictRequestSchema(served.classifier, { maxInstances: served.maxInstances });
    routes.set(served.name, { served, validator: new InstanceValidator(served.classifier, schema) });
  }
  const find = (name: string): Route => {
    const route = routes.get(name);
    if (!route) throw new RequestError(404, "MODEL_NOT_FOUND", `no model named "${name}"; this server has ${[...routes.keys()].join(", ")}`);
    return route;
  };

  app.addContentTypeParser(NPY_CONTENT_TYPE, { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  app.get("/v1/models", async () => ({ models: [...routes.keys()].map((name) => describeModel(find(name).served)) }));
  app.get<{ Params: { name: string } }>("/v1/models/:name", async (request) => describeModel(find(request.params.name).served));
  app.get<{ Params: { name: string } }>("/v1/models/:name/schema", async (request) => find(request.params.name).validator.schema);

  // The verb follows a colon in the same path segment (`mnist-cnn:predict`), which
  // find-my-way cannot split, so the segment is taken whole and split here.
  app.post<{ Params: { target: string } }>("/v1/models/:target", async (request) => {
    const colon = request.params.target.lastIndexOf(":");
    const verb = colon < 0 ? "" : request.params.target.slice(colon + 1);
    if (verb !== "predict")
      throw new RequestError(
        404,
        "NOT_FOUND",
        `POST /v1/models/{name}:predict is the prediction route; "${verb || request.params.target}" is not a verb this server knows`,
      );
    const { served, validator } = find(request.params.target.slice(0, colon));
    const x = Buffer.isBuffer(request.body) ? validator.checkBatch(npyBatch(request.body)) : validator.batchFromJson(request.body);
    const probs = probabilitiesOf(served.classifier, await served.classifier.predict(x));
    const k = probs.shape[1];
    const predictions: number[][] = [];
    for (let i = 0; i < probs.shape[0]; i++) predictions.push(Array.from(probs.data.subarray(i * k, (i + 1) * k)));
    return { predictions };
  });
};

function npyBatch(body: Buffer) {
  try {
    const t = parseNpy(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), "the request body");
    if (t.dtype !== "float32" && t.dtype !== "float64") throw new RequestError(400, "INVALID_INPUT", `the array is ${t.dtype}; send float32 or float64`);
    return toFloat32(t);
  } catch (e) {
    if (e instanceof RequestError) throw e;
    throw new RequestError(400, "INVALID_INPUT", `the body is not a valid .npy array: ${(e as Error).message}`);
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
