/** The worker thread of an HE service (service.ts): one model, its key ring, one request at a time. */
import { parentPort, workerData } from "node:worker_threads";
import { HeEvaluator } from "./evaluator.js";
import type { HeModel } from "./model-file.js";
import { describeError, KeyRing } from "./service.js";

const port = parentPort;
if (!port) throw new Error("service-worker.ts runs as the worker thread of an HE service");
const setup = workerData as { model: HeModel; maxKeySets: number; base: string };

try {
  const ring = new KeyRing(await HeEvaluator.create(setup.model), setup.maxKeySets, setup.base);
  port.on("message", (m: { id: number; op: "keys" | "infer"; bytes: Uint8Array }) => {
    try {
      // Copied, not transferred: a small Buffer can be a view of Node's shared pool.
      port.postMessage({ id: m.id, result: m.op === "keys" ? ring.register(m.bytes) : ring.infer(m.bytes) });
    } catch (e) {
      port.postMessage({ id: m.id, error: describeError(e) });
    }
  });
  port.postMessage({ id: -1, result: "ready" });
} catch (e) {
  port.postMessage({ id: -1, error: describeError(e) });
}
