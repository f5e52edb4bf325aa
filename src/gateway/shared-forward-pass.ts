/**
 * One forward pass per request for a model route whose k-NN OOD detector reads one of the
 * model's layers: the route predicts with a feature extractor, which returns the model's
 * scores and that layer together, and the detector takes the features of the very batch
 * the route just predicted instead of running the model again (half of the OOD rate's cost).
 */
import type { FeatureSource } from "../defenses/index.js";
import type { OnnxClassifier } from "../engine/classifier.js";
import type { FeatureExtractor } from "../engine/features.js";
import type { Tensor } from "../tensor.js";
import type { ServedClassifier } from "./model-route.js";

export function sharedForwardPass(classifier: OnnxClassifier, extractor: FeatureExtractor): { predictor: ServedClassifier; features: FeatureSource } {
  // Keyed by the batch tensor the route hands to both: nothing outlives the request.
  const read = new WeakMap<Tensor<"float32">, Tensor<"float32">>();
  return {
    predictor: {
      inputShape: classifier.inputShape,
      numClasses: classifier.numClasses,
      clipRange: classifier.clipRange,
      outputKind: classifier.outputKind,
      async predict(x) {
        const { features, scores } = await extractor.extract(x);
        read.set(x, features);
        return scores;
      },
      async release() {
        await extractor.release();
        await classifier.release();
      },
    },
    features: {
      layer: extractor.layer,
      features: async (x) => read.get(x) ?? (await extractor.extract(x)).features,
    },
  };
}
