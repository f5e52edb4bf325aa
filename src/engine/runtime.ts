/**
 * The edge between Aegis and ONNX Runtime: session creation with the user's thread
 * count and device, and conversion between Aegis tensors and ORT tensors.
 */
import * as ort from "onnxruntime-node";
import { AegisError } from "../errors.js";
import type { Model } from "../onnx/ir.js";
import { DataType } from "../onnx/ir.js";
import { encodeModel } from "../onnx/proto.js";
import type { DType, Tensor } from "../tensor.js";

export type Device = "cpu" | "cuda";

export interface RuntimeOptions {
  /** Intra-op threads; 0 lets ONNX Runtime choose (one per core). */
  threads?: number;
  device?: Device;
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Runs the graph on `feeds` (read in place, not copied) and returns the requested outputs
   * (all when omitted). Outputs named in `into` are written into those tensors' arrays, which
   * must have the output's size and must not be fed in the same run; the others are fresh.
   */
  run(feeds: Record<string, Tensor>, outputs?: readonly string[], into?: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export async function createSession(model: Model | Uint8Array, options: RuntimeOptions = {}): Promise<Session> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [options.device === "cuda" ? "cuda" : "cpu"],
    intraOpNumThreads: options.threads ?? 0,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    // Gradient graphs are long-lived and run many times; memory patterns pay off.
    enableMemPattern: true,
    enableCpuMemArena: true,
  };
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    if (options.device === "cuda") {
      throw new AegisError(
        "DEVICE_UNAVAILABLE",
        `the CUDA execution provider could not be started (${firstLine(message)}); install onnxruntime-node with its CUDA binaries and a matching CUDA/cuDNN, or use --device cpu`,
        { cause: e },
      );
    }
    throw new AegisError("BAD_MODEL", `ONNX Runtime cannot load the model: ${firstLine(message)}`, { cause: e });
  }
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, outputs, into) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
      let result: ort.InferenceSession.OnnxValueMapType;
      try {
        if (into) {
          const fetches: Record<string, ort.Tensor | null> = {};
          for (const name of outputs ?? session.outputNames) fetches[name] = null;
          for (const [name, t] of Object.entries(into)) fetches[name] = toOrt(t);
          result = await session.run(ortFeeds, fetches);
        } else {
          result = outputs ? await session.run(ortFeeds, outputs as string[]) : await session.run(ortFeeds);
        }
      } catch (e) {
        const message = firstLine((e as Error).message ?? String(e));
        throw new AegisError(
          "SHAPE_MISMATCH",
          `the model rejected its input: ${message}; check that the data's shape and type fit the model (aegis inspect shows what it expects)`,
          {
            cause: e,
          },
        );
      }
      const out: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(result)) out[k] = fromOrt(v as ort.Tensor);
      return out;
    },
    release: () => session.release(),
  };
}

function firstLine(s: string): string {
  return s.split("\n")[0].slice(0, 500);
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: "float32",
  float64: "float64",
  int64: "int64",
  int32: "int32",
  uint8: "uint8",
  bool: "bool",
};

export function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data as ort.Tensor.DataType, t.shape as number[]);
}

export function fromOrt(t: ort.Tensor): Tensor {
  const shape = t.dims.map(Number);
  switch (t.type) {
    case "float32":
      return { dtype: "float32", shape, data: t.data as Float32Array };
    case "float64":
      return { dtype: "float64", shape, data: t.data as Float64Array };
    case "int64":
      return { dtype: "int64", shape, data: t.data as BigInt64Array };
    case "int32":
      return { dtype: "int32", shape, data: t.data as Int32Array };
    case "uint8":
      return { dtype: "uint8", shape, data: t.data as Uint8Array };
    case "bool":
      return { dtype: "bool", shape, data: t.data as Uint8Array };
    default:
      throw new AegisError("UNSUPPORTED", `model output of type ${t.type} is not supported`);
  }
}

export const DTYPE_OF: Partial<Record<DataType, DType>> = {
  [DataType.FLOAT]: "float32",
  [DataType.DOUBLE]: "float64",
  [DataType.INT64]: "int64",
  [DataType.INT32]: "int32",
  [DataType.UINT8]: "uint8",
  [DataType.BOOL]: "bool",
};

export const DATA_TYPE_OF: Record<DType, DataType> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  int32: DataType.INT32,
  uint8: DataType.UINT8,
  bool: DataType.BOOL,
};
