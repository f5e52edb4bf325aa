import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { createServer } from "../../src/gateway/index.js";
import {
  compileModel,
  evaluatePlain,
  generateKeys,
  HE_CONTENT_TYPE,
  HeClient,
  type HePublicParams,
  heRoutes,
  startHeService,
} from "../../src/privacy/index.js";

test("encrypted prediction over HTTP: keys uploaded, binary request in, encrypted logits out; secret keys, unknown keys and oversized bodies refused", async () => {
  const rng = createRng(3);
  const x = Float32Array.from({ length: 6 * 4 }, () => rng.normal());
  const compiled = compileModel(buildArchitecture("linear", { inputShape: [6], numClasses: 3, seed: 2 }), {
    name: "lr",
    calibration: x,
    calibrationSamples: 4,
    packing: "batch",
  });
  // The service runs in its worker thread, as servers run it: errors keep their codes across the thread.
  const service = await startHeService("lr", compiled);
  const app = await createServer({ models: [] });
  await app.register(heRoutes, { models: [{ service }], requestBodyLimit: 2 * 2 ** 20 });
  const binary = (url: string, payload: Buffer) => app.inject({ method: "POST", url, payload, headers: { "content-type": HE_CONTENT_TYPE } });

  // The client learns the parameters from the server, never the weights.
  const paramsReply = await app.inject({ method: "GET", url: "/v1/he/lr/params" });
  assert.equal(paramsReply.statusCode, 200);
  assert.ok(!paramsReply.body.includes("weight"));
  const keys = await generateKeys(paramsReply.json() as HePublicParams);

  const secret = await binary("/v1/he/lr/keys", keys.secretKey);
  assert.equal(secret.statusCode, 400);
  assert.equal(secret.json().error.code, "BAD_DATA");

  const client = await HeClient.open(keys.secretKey);
  const request = client.encrypt(x, 4);
  const unknown = await binary("/v1/he/lr:infer", request);
  assert.equal(unknown.statusCode, 404, "a request under keys the server does not have");

  const registered = await binary("/v1/he/lr/keys", keys.publicKeys);
  assert.equal(registered.statusCode, 200, registered.body);
  assert.equal(registered.json().keyId, keys.keyId);

  const answer = await binary("/v1/he/lr:infer", request);
  assert.equal(answer.statusCode, 200, answer.body);
  assert.equal(answer.headers["content-type"], HE_CONTENT_TYPE);
  const { outputs } = client.decrypt(answer.rawPayload);
  const plain = evaluatePlain(compiled.stages, Float64Array.from(x), 4);
  for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(outputs[i] - plain[i]) < 1e-3, `output ${i}: ${outputs[i]} vs ${plain[i]}`);

  // Off the event loop: the next turn of the loop comes before the encrypted answer does.
  let answered = false;
  const pending = service.infer(request).then(() => {
    answered = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(answered, false, "the request computes in the worker while the loop turns");
  await pending;

  const tooLarge = await binary("/v1/he/lr:infer", Buffer.concat([request, Buffer.alloc(2 * 2 ** 20)]));
  assert.equal(tooLarge.statusCode, 413);
  assert.equal(
    (await app.inject({ method: "POST", url: "/v1/he/other:infer", payload: request, headers: { "content-type": HE_CONTENT_TYPE } })).statusCode,
    404,
  );
  client.release();
  await app.close();
});
