/**
 * A model behind a bare KServe-style HTTP endpoint (`{"instances": [...]}` in, softmax
 * `{"predictions": [...]}` out) for tests of `--target URL`: counts the samples it received.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type Predictor, softmaxRows } from "../../src/engine/index.js";
import { float32 } from "../../src/tensor.js";

export interface ModelEndpoint {
  url: string;
  /** Samples answered so far (settable, e.g. to 0 between runs). */
  received: number;
  close(): Promise<void>;
}

export async function serveModel(model: Predictor): Promise<ModelEndpoint> {
  const k = model.numClasses;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const { instances } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { instances: unknown[] };
    endpoint.received += instances.length;
    const x = float32([instances.length, ...model.inputShape], Float32Array.from((instances as number[]).flat(model.inputShape.length) as number[]));
    const answers = await model.predict(x);
    const scores = model.outputKind === "logits" ? softmaxRows(answers) : answers;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ predictions: Array.from({ length: instances.length }, (_, i) => Array.from(scores.data.subarray(i * k, (i + 1) * k))) }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint: ModelEndpoint = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/models/model:predict`,
    received: 0,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return endpoint;
}
