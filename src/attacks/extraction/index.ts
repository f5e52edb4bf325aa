/** The extraction attacks (ART's extraction family): one file each, with its paper named. */
import { copycat } from "./copycat.js";
import { dfme } from "./dfme.js";
import { functionallyEquivalent } from "./functionally-equivalent.js";
import { jacobian } from "./jacobian.js";
import { knockoff } from "./knockoff.js";
import type { ExtractionAttack } from "./types.js";

export { type CopycatParams, copycat } from "./copycat.js";
export { buildGenerator, type DfmeParams, dfme } from "./dfme.js";
export { type FunctionallyEquivalentParams, functionallyEquivalent } from "./functionally-equivalent.js";
export { type JacobianParams, jacobian } from "./jacobian.js";
export { type KnockoffParams, type KnockoffReward, knockoff, thiefClusters } from "./knockoff.js";
export { type ObservedOutput, type QueryLogEntry, QueryOracle, type QueryOracleOptions } from "./oracle.js";
export {
  type ExtractionTarget,
  extractionFindings,
  extractionSeverity,
  renderExtractionHtml,
  renderExtractionMarkdown,
} from "./report.js";
export {
  type CurvePoint,
  type ExtractionReport,
  type ExtractionRun,
  type RunExtractionOptions,
  runExtraction,
  TRANSFER_DEFAULTS,
  type TransferResult,
} from "./run.js";
export { createStolenModel, fitStolen, type StolenModelSpec, type TrainingSchedule, trainStolen } from "./stolen-model.js";
export type { ExtractionAttack, ExtractionContext, ExtractionInput, ExtractionResult, TargetKind } from "./types.js";

export const EXTRACTION_ATTACKS: readonly ExtractionAttack[] = [copycat, knockoff, jacobian, dfme, functionallyEquivalent];

export function extractionAttackByName(name: string): ExtractionAttack | undefined {
  return EXTRACTION_ATTACKS.find((a) => a.name === name);
}
