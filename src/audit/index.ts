/** Public API of aegis-ml/audit: run an audit suite, judge it against a policy, compare two models, evaluate a defence, render the report. */

export { BACKDOOR_SEVERITY, type BackdoorAuditOptions, type BackdoorSection, backdoorFindings, runBackdoorSection } from "./backdoor.js";
export { budgetText, durationText, parseDuration } from "./budget.js";
export {
  type ComparedModel,
  type ComparisonOptions,
  type ComparisonReport,
  type ComparisonRow,
  type ComparisonSection,
  compareReports,
  defaultLabels,
  isComparison,
  runComparison,
} from "./compare.js";
export {
  type AuditConfig,
  applyOverrides,
  type ConfigOverrides,
  defaultAuditConfig,
  loadAuditConfig,
  MINIMUM_NORM_ATTACKS,
  parseAuditConfig,
  type SuiteEntry,
} from "./config.js";
export {
  attackShard,
  localExecutor,
  mergeShards,
  planShards,
  randomTargets,
  runCurve,
  type Shard,
  type ShardExecutor,
  type ShardedRun,
  type ShardRunContext,
  shardSeed,
} from "./curve.js";
export {
  type DefenceEvaluation,
  type DefenceEvaluationOptions,
  type DefenceEvaluationRow,
  defenceEvaluationMarkdown,
  evaluateDefence,
} from "./defence-evaluation.js";
export {
  answeringThrough,
  auditExtractionDefences,
  type DetectionRow,
  type ExtractionAttackCase,
  type ExtractionDefenceOptions,
  type ExtractionDefenceReport,
  extractionDefenceFindings,
  fitGuardDetectors,
  type GuardDetectorName,
  type GuardDetectors,
  guardRouteDetectors,
  type OutputMode,
  replayThroughDetectors,
  type StealingRow,
  type StreamDetection,
} from "./extraction-defences.js";
export { renderExtractionDefencesHtml, renderExtractionDefencesMarkdown } from "./extraction-defences-report.js";
export { defenceAttackText, defenceText, deriveFindings, ensembleText } from "./findings.js";
export { renderHtml } from "./html.js";
export { renderMarkdown } from "./markdown.js";
export { evaluatePolicy, loadPolicy, type Policy, parsePolicy } from "./policy.js";
export {
  CHEAP_PRIVACY_ATTACKS,
  defaultPrivacyAttacks,
  type PrivacyAuditOptions,
  type PrivacySection,
  runPrivacySection,
  SHADOW_PRIVACY_ATTACKS,
} from "./privacy.js";
export { type AuditOptions, type AuditResult, type ExampleImages, runAudit } from "./suite.js";
export type * from "./types.js";
export type { AuditReport, DefenceRecord } from "./types.js";
export { AUDIT_FORMATS, DEFAULT_AUDIT_FORMATS, writeAuditReports } from "./write.js";
