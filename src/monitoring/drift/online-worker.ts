/** The worker thread of an online drift monitor (online.ts): checks one window at a time against the reference it was started with. */
import { parentPort, workerData } from "node:worker_threads";
import { compareToReference, type DriftReference, type Observation } from "./detector.js";

const port = parentPort;
if (!port) throw new Error("online-worker.ts runs as the worker thread of an online drift monitor");
const { detector } = workerData as { detector: DriftReference };

port.on("message", ({ id, window, seed }: { id: number; window: Observation; seed: number }) => {
  try {
    const { tests, drift } = compareToReference(detector, window, seed);
    port.postMessage({ id, tests, drift });
  } catch (e) {
    port.postMessage({ id, error: (e as Error).message });
  }
});
port.postMessage({ ready: true });
