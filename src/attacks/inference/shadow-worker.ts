/**
 * A worker thread of trainShadowModels: it keeps the attacker's pool of data and trains
 * the shadow models it is sent, one at a time, reporting each epoch and returning each
 * model as ONNX bytes. An "abort" message stops the model in training after its step.
 */
import { parentPort, workerData } from "node:worker_threads";
import { isAegisError } from "../../errors.js";
import { float32 } from "../../tensor.js";
import { type LabelledData, sampleRows } from "./observations.js";
import { type ShadowConfig, trainShadowModel } from "./shadow-models.js";

interface Setup {
  config: ShadowConfig;
  x: { shape: number[]; data: Float32Array };
  labels: number[];
}

const port = parentPort;
if (!port) throw new Error("shadow-worker.ts runs as a worker thread of trainShadowModels");
const setup = workerData as Setup;
const pool: LabelledData = { x: float32(setup.x.shape, setup.x.data), labels: setup.labels };
const controller = new AbortController();

port.on("message", async (m: { type: "job"; index: number; seed: number; rows: number[] } | { type: "abort" }) => {
  if (m.type === "abort") return controller.abort();
  try {
    const model = await trainShadowModel(setup.config, m.seed, sampleRows(pool, m.rows), {
      signal: controller.signal,
      onEpoch: () => port.postMessage({ type: "epoch", index: m.index }),
    });
    port.postMessage({ type: "done", index: m.index, model });
  } catch (e) {
    port.postMessage({ type: "error", index: m.index, message: (e as Error).message, code: isAegisError(e) ? e.code : undefined });
  }
});
