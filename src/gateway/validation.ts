/**
 * Input validation of prediction requests. Each ONNX route gets a JSON Schema derived
 * from its model: the shape of one instance, numbers only, inside the model's valid
 * range, no unknown fields. The schema is published (GET …/schema) so clients can check
 * their requests, and compiled once with ajv. A body the guard kept as text (JsonBody) is
 * first offered to the dedicated reader of instances-json.ts, which accepts exactly what a
 * derived schema accepts without building the JSON tree; ajv decides the rest and words
 * every refusal.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { ModelInfo } from "../engine/capabilities.js";
import { sizeOf, type Tensor } from "../tensor.js";
import { type InstancesShape, JsonBody } from "./instances-json.js";

export interface RequestLimits {
  /** Most instances accepted in one request. */
  maxInstances: number;
}

export type JsonSchema = Record<string, unknown>;

/** What each schema predictRequestSchema made admits, for the dedicated reader (fixed shapes only). */
const derivedSchemas = new WeakMap<JsonSchema, InstancesShape>();

/** The JSON Schema of `{"instances": [...]}` for a model: nested per its input shape, or flat. */
export function predictRequestSchema(model: ModelInfo, limits: RequestLimits): JsonSchema {
  const schema = deriveSchema(model, limits);
  if (model.inputShape.every((d) => d > 0)) {
    derivedSchemas.set(schema, { inputShape: [...model.inputShape], clipRange: [...model.clipRange], maxInstances: limits.maxInstances });
  }
  return schema;
}

function deriveSchema(model: ModelInfo, limits: RequestLimits): JsonSchema {
  const [lo, hi] = model.clipRange;
  const leaf: JsonSchema = { type: "number", minimum: lo, maximum: hi };
  const nested = model.inputShape.reduceRight<JsonSchema>((items, dim) => sized({ type: "array", items }, dim), leaf);
  const flatLength = model.inputShape.every((d) => d > 0) ? sizeOf(model.inputShape) : 0;
  const instance = model.inputShape.length > 1 ? { anyOf: [nested, sized({ type: "array", items: leaf }, flatLength)] } : nested;
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    type: "object",
    additionalProperties: false,
    required: ["instances"],
    properties: { instances: { type: "array", minItems: 1, maxItems: limits.maxInstances, items: instance } },
  };
}

function sized(schema: JsonSchema, dim: number): JsonSchema {
  return dim > 0 ? { ...schema, minItems: dim, maxItems: dim } : schema;
}

export class RequestError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The 400 for a body that is not JSON, with JSON.parse's reason. */
export function invalidJson(e: unknown): RequestError {
  return new RequestError(400, "INVALID_JSON", `the body is not valid JSON (${(e as Error).message})`);
}

/** The parsed body: a JsonBody parsed now (400 INVALID_JSON when it is not JSON), anything else as is. */
function jsonOf(body: unknown): unknown {
  if (!(body instanceof JsonBody)) return body;
  try {
    return body.value();
  } catch (e) {
    throw invalidJson(e);
  }
}

/** Throws 400 INVALID_JSON unless a JsonBody holds JSON; free when a reader already accepted it. */
export function assertJsonBody(body: unknown): void {
  if (!(body instanceof JsonBody)) return;
  try {
    body.assertJson();
  } catch (e) {
    throw invalidJson(e);
  }
}

/** Validates JSON bodies (parsed, or kept as text in a JsonBody) and turns them into one float32 batch. */
export class InstanceValidator {
  private readonly check: ValidateFunction;
  /** Set when the schema is one predictRequestSchema derived, so the dedicated reader may decide. */
  private readonly readable: InstancesShape | undefined;

  constructor(
    private readonly model: ModelInfo,
    readonly schema: JsonSchema,
  ) {
    this.check = new Ajv({ allErrors: false, strict: false }).compile(schema);
    this.readable = derivedSchemas.get(schema);
  }

  /** Throws a RequestError that names the offending field unless the body matches the schema. */
  checkJson(body: unknown): void {
    if (this.readable && body instanceof JsonBody && body.readInstances(this.readable)) return;
    const value = jsonOf(body);
    if (!this.check(value)) throw new RequestError(400, "INVALID_INPUT", describe(this.check.errors ?? [], this.model));
  }

  /** The batch [N, ...inputShape], or a RequestError that names the offending field. */
  batchFromJson(body: unknown): Tensor<"float32"> {
    if (this.readable && body instanceof JsonBody) {
      const data = body.readInstances(this.readable);
      const shape = this.readable.inputShape;
      if (data) return { dtype: "float32", shape: [data.length / sizeOf(shape), ...shape], data };
    }
    const value = jsonOf(body);
    this.checkJson(value);
    const instances = (value as { instances: unknown[] }).instances;
    const per = sizeOf(this.model.inputShape);
    const data = new Float32Array(instances.length * per);
    let offset = 0;
    for (const instance of instances) offset = flatten(instance, data, offset);
    return { dtype: "float32", shape: [instances.length, ...this.model.inputShape], data };
  }

  /** Checks a binary (.npy) batch: shape, finiteness and range, which JSON Schema cannot see there. */
  checkBatch(x: Tensor<"float32">): Tensor<"float32"> {
    const shape = this.model.inputShape;
    const single = x.shape.length === shape.length && shape.every((d, i) => d <= 0 || d === x.shape[i]);
    const batched = x.shape.length === shape.length + 1 && shape.every((d, i) => d <= 0 || d === x.shape[i + 1]);
    if (!single && !batched) {
      throw new RequestError(400, "INVALID_INPUT", `the array has shape [${x.shape.join(", ")}]; this model takes [N, ${shape.join(", ")}]`);
    }
    const [lo, hi] = this.model.clipRange;
    for (let i = 0; i < x.data.length; i++) {
      const v = x.data[i];
      if (!Number.isFinite(v)) throw new RequestError(400, "INVALID_INPUT", `element ${i} is ${v}; inputs must be finite numbers`);
      if (v < lo || v > hi) throw new RequestError(400, "INVALID_INPUT", `element ${i} is ${v}, outside the model's range [${lo}, ${hi}]`);
    }
    return single ? { ...x, shape: [1, ...x.shape] } : x;
  }
}

function flatten(value: unknown, out: Float32Array, offset: number): number {
  if (typeof value === "number") {
    out[offset] = value;
    return offset + 1;
  }
  for (const v of value as unknown[]) offset = flatten(v, out, offset);
  return offset;
}

/** One sentence naming the field, in terms of the model rather than of JSON Schema keywords. */
function describe(errors: ErrorObject[], model: ModelInfo): string {
  const expected =
    model.inputShape.length === 0
      ? "the body does not match the route's JSON Schema"
      : `each instance must be a [${model.inputShape.join(", ")}] array of numbers in [${model.clipRange.join(", ")}]`;
  // Of the branches of "nested or flat", the error that got deepest is the one the client meant.
  const first =
    errors
      .filter((e) => e.keyword !== "anyOf")
      .reduce<ErrorObject | undefined>((a, e) => (!a || e.instancePath.length > a.instancePath.length ? e : a), undefined) ?? errors[0];
  if (!first) return expected;
  if (first.keyword === "additionalProperties") {
    return `unknown field "${(first.params as { additionalProperty: string }).additionalProperty}"; the body is {"instances": [...]}`;
  }
  if (first.keyword === "required") return `the body must be {"instances": [...]}`;
  const where = first.instancePath === "" ? "the body" : first.instancePath;
  return first.instancePath.startsWith("/instances/") ? `${where} ${first.message}; ${expected}` : `${where} ${first.message}`;
}
