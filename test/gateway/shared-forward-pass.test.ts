/**
 * A model route with a k-NN OOD detector of one of its layers runs the model once per
 * request: the detector reads the features of the batch the route just predicted, and runs
 * the extractor itself only for a batch the route did not predict.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { OnnxClassifier } from "../../src/engine/classifier.js";
import type { FeatureExtractor } from "../../src/engine/features.js";
import { sharedForwardPass } from "../../src/gateway/shared-forward-pass.js";
import { float32 } from "../../src/tensor.js";

test("the route's prediction and the detector's features come from one extractor call", async () => {
  let calls = 0;
  let released = 0;
  const extractor = {
    layer: "penultimate",
    async extract(x) {
      calls++;
      return {
        features: float32(
          [x.shape[0], 2],
          Array.from({ length: 2 * x.shape[0] }, () => calls),
        ),
        scores: float32([x.shape[0], 3], [0.2, 0.3, 0.5]),
      };
    },
    async release() {
      released++;
    },
  } as FeatureExtractor;
  const classifier = {
    inputShape: [2],
    numClasses: 3,
    clipRange: [0, 1],
    outputKind: "probs",
    async release() {
      released++;
    },
  } as unknown as OnnxClassifier;
  const { predictor, features } = sharedForwardPass(classifier, extractor);
  assert.deepEqual([predictor.inputShape, predictor.numClasses, predictor.outputKind, features.layer], [[2], 3, "probs", "penultimate"]);

  const batch = float32([1, 2], [0.1, 0.9]);
  assert.deepEqual(
    Array.from((await predictor.predict(batch)).data).map((v) => Math.round(v * 10) / 10),
    [0.2, 0.3, 0.5],
  );
  assert.deepEqual(Array.from((await features.features(batch)).data), [1, 1], "the features of the predicted batch");
  assert.equal(calls, 1);
  // Another batch (same values, another tensor): the detector runs the extractor itself.
  assert.deepEqual(Array.from((await features.features(float32([1, 2], [0.1, 0.9]))).data), [2, 2]);
  assert.equal(calls, 2);
  await predictor.release();
  assert.equal(released, 2, "the extractor and the classifier are both released");
});
