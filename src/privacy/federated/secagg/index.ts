/**
 * Secure aggregation (Bonawitz et al. 2017, CCS, "Practical Secure Aggregation for
 * Privacy-Preserving Machine Learning"), semi-honest version: the server learns the sum of
 * the clients' quantised updates and nothing finer, and the sum survives clients dropping
 * out at any stage as long as t remain. shamir.ts (t-of-n sharing), keys.ts (X25519, HKDF,
 * AES-GCM), prg.ts (AES-CTR masks), quantise.ts (fixed point in Z_{2^32}), client.ts and
 * server.ts (the protocol's two roles), session.ts (a run in one process, with dropouts and
 * cost), aggregator.ts (FedAvg on top), buckets-karimireddy2022.ts (a robust rule over
 * secure bucket sums).
 */
export {
  SECURE_AGGREGATION_DEFAULTS,
  type SecureAggregationOptions,
  type SecureAggregationReport,
  type SecureDpSettings,
  secureAggregator,
  secureDpFedAvg,
  secureFedAvg,
} from "./aggregator.js";
export { assignBuckets, type BucketingRound, type BucketsReport, secureBuckets } from "./buckets-karimireddy2022.js";
export { SecAggClient } from "./client.js";
export { agree, generateX25519, open as openSealed, publicKeyOf, seal } from "./keys.js";
export type { KeyAdvert, MaskedInput, ProtocolParams, SealedShares, UnmaskingShares } from "./messages.js";
export { addMask, maskFromSeed } from "./prg.js";
export { dequantise, type FixedPoint, fixedPointFor, quantise, sumError } from "./quantise.js";
export { SecAggServer } from "./server.js";
export {
  type Dropouts,
  defaultThreshold,
  type SecureSumCost,
  type SecureSumOptions,
  type SecureSumResult,
  type ServerViewEntry,
  secureSum,
} from "./session.js";
export { combineShares, SHAMIR_PRIME, type Share, ShareCombiner, splitSecret } from "./shamir.js";
