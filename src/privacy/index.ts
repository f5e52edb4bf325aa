/**
 * Privacy-preserving machine learning. `dp/`: differential privacy (DP-SGD and its
 * accountants). `federated/`: federated learning (FedAvg, FedProx, robust aggregation, the
 * attack harness, and a server and clients over HTTPS). `he/`: encrypted inference with CKKS (Microsoft SEAL through node-seal):
 * compile an ONNX model, make keys, encrypt, infer, decrypt, serve.
 */
export * from "./dp/index.js";
export * from "./federated/index.js";
export { type GeneratedKeys, generateKeys, HeClient, outputProbabilities } from "./he/client.js";
export {
  type ActivationReport,
  argmaxAgreement,
  type CompiledModel,
  type CompileOptions,
  type CompileReport,
  compileModel,
  type HePublicParams,
  predictedClass,
} from "./he/compile.js";
export { CONTAINER_MAGIC, type ContainerKind, decodeContainer, HE_CONTENT_TYPE, isContainer } from "./he/container.js";
export { type EncryptedEvaluation, type EvaluateOptions, evaluateEncrypted } from "./he/evaluate.js";
export { HeEvaluator, type KeySet } from "./he/evaluator.js";
export { type HeRouteOptions, heRoutes, type ServedHeModel } from "./he/http.js";
export { evaluatePlain, type Stage } from "./he/model.js";
export { type HeModel, paramsId, readHeModel, readHeParams, writeHeModel, writeHeParams } from "./he/model-file.js";
export { checkSecurity, chooseParameters, type HeParameters, MAX_COEFF_BITS_128 } from "./he/params.js";
export { ACTIVATIONS, fitPolynomial, type Polynomial } from "./he/polynomial.js";
export { type HeService, type HeServiceOptions, startHeService } from "./he/service.js";
