/** Privacy attacks: membership inference (thresholds, Shokri, label-only, LiRA, RMIA) and its report. */

export { attributeIndex, inferAttribute, type SensitiveAttribute, sensitiveAttribute } from "./attribute.js";
export { ATTRIBUTE_RULE, type AttributeReport, attributeMarkdown, attributeReport, attributeScores } from "./attribute-report.js";
export { INVERSION_RULE, type InversionReport, inversionHtml, inversionMarkdown, inversionReport } from "./inversion-report.js";
export { LIRA_OFFLINE_TESTS, type LiraOfflineTest } from "./lira.js";
export {
  DEFAULT_MEMBERSHIP_ATTACKS,
  MEMBERSHIP_ATTACK_INFO,
  MEMBERSHIP_ATTACKS,
  type MembershipAttackName,
  type MembershipAttackResult,
  type MembershipOptions,
  type MembershipResult,
  runMembershipInference,
  type ShadowSetup,
} from "./membership.js";
export { LOW_FPRS, type MembershipMetrics, membershipMetrics } from "./metrics.js";
export { classMeans, type Inversion, type InversionSimilarity, inversionSimilarity, MI_FACE_DEFAULTS, type MiFaceOptions, miFace } from "./mi-face.js";
export { AUGMENTATIONS, type AugmentationName, type LabelledData, sampleRows } from "./observations.js";
export {
  MEMBERSHIP_RULE,
  type MembershipReport,
  membershipFindings,
  membershipHtml,
  membershipJunit,
  membershipMarkdown,
  membershipSarif,
  membershipSections,
  membershipSeverity,
  membershipTable,
  strongestAttack,
} from "./report.js";
export {
  DEFAULT_SHADOW_TRAINING,
  type ShadowArchitecture,
  type ShadowConfig,
  type ShadowPlan,
  type ShadowTrainer,
  type ShadowTrainerHooks,
  type ShadowTraining,
  trainShadowModel,
  trainShadowModels,
} from "./shadow-models.js";
