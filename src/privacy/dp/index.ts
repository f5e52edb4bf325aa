/** Differential privacy: accountants, DP-SGD, DP analytics with a budget ledger, and the empirical audit. */
export {
  ACCOUNTANTS,
  type AccountantName,
  type AccountingOptions,
  epsilonSpent,
  noiseMultiplierFor,
  PrivacyAccountant,
  type PrivacySpent,
} from "./accountant.js";
export {
  auditDpSgd,
  CANARY_KINDS,
  type CanaryAuditOptions,
  type CanaryAuditResult,
  type CanaryKind,
  canaryScores,
  type GuessOutcome,
  type LabelledRows,
  makeCanaries,
} from "./canary-audit.js";
export {
  type DpEpochStats,
  type DpSgdPlan,
  type DpSgdRun,
  type DpSgdSettings,
  type DpTrainOptions,
  describePlan,
  dpSgdStep,
  planDpSgd,
  poissonSampler,
  prepareDpSgd,
  refuseBatchNorm,
  trainDpSgd,
} from "./dp-sgd.js";
export { dpQuantile, exponentialMechanism } from "./exponential.js";
export { auditFindings, dpFindings, membershipAuditFinding } from "./findings.js";
export { GAUSSIAN_CALIBRATIONS, type GaussianCalibration, gaussianDelta, gaussianSigma } from "./gaussian.js";
export { laplaceInterval, laplaceScale, sampleLaplace } from "./laplace.js";
export { BudgetLedger, type LedgerBudget, type LedgerRelease, type LedgerRequest, type LedgerStatus } from "./ledger.js";
export {
  type AttackLeakage,
  auditMembership,
  BOUND_CHECK_FPRS,
  type BoundCheck,
  boundChecks,
  MEMBERSHIP_AUDIT_ATTACKS,
  type MembershipAuditOptions,
  type MembershipAuditResult,
  type ModelLeakage,
} from "./membership-audit.js";
export { type DpRecord, describeDp, dpRecord, readDpMetadata, withDpMetadata } from "./metadata.js";
export { type OneRunCounts, oneRunEpsilonLowerBound, oneRunPValue, scoreGuesses } from "./one-run-bound.js";
export { type PrvEpsilon, type PrvOptions, prvEpsilon } from "./prv.js";
export {
  AGGREGATES,
  type Aggregate,
  answerQuery,
  parseQuery,
  type Query,
  type QuerySettings,
  type Release,
  type ReleasedValue,
  releaseMechanism,
  type Table,
} from "./queries.js";
export { type PlannedQuery, type QueryFile, readQueryFile } from "./query-file.js";
export {
  DEFAULT_ORDERS,
  epsilonFromRdp,
  type GaussianComposition,
  OPACUS_ORDERS,
  RDP_CONVERSIONS,
  type RdpConversion,
  rdpCurve,
  rdpEpsilon,
  subsampledGaussianRdp,
} from "./rdp.js";
export { type ReleaseOutcome, type ReleaseRequest, releaseQueries } from "./release.js";
export { SecureRandom } from "./secure-random.js";
export { loadTable } from "./table.js";
