/** Poisoning attacks (ART's family): registry, manifest, triggers and how success is measured. */
import { badnets } from "./badnets.js";
import { cleanLabel } from "./clean-label.js";
import { featureCollision } from "./feature-collision.js";
import { gradientMatching } from "./gradient-matching.js";
import { labelFlipping } from "./label-flipping.js";
import { tabularBlindSpot } from "./tabular-blind-spot.js";
import type { PoisoningAttack } from "./types.js";

export { matchesPattern, type PoisonSuccess, patternText, poisonSuccess, retrainLastLayer } from "./evaluate.js";
export { type Collision, collideFeatures, type FeatureCollisionParams } from "./feature-collision.js";
export { type Brew, brewPoisons, type GradientMatchingParams, gradientAlignment, parameterGradient } from "./gradient-matching.js";
export { createManifest, decodeInputs, encodeInputs, loadManifest, MANIFEST_FORMAT, poisonedFlags, saveManifest } from "./manifest.js";
export { BLIND_SPOT_MODES, parsePattern, type TabularBlindSpotParams } from "./tabular-blind-spot.js";
export {
  type CompiledTrigger,
  compileTrigger,
  imageOf,
  maskOverlap,
  parseTrigger,
  stamp,
  stampRows,
  TRIGGER_KINDS,
  type TriggerSpec,
} from "./trigger.js";
export type * from "./types.js";
export { badnets, cleanLabel, featureCollision, gradientMatching, labelFlipping, tabularBlindSpot };

// biome-ignore lint/suspicious/noExplicitAny: a registry of attacks with different parameters
export const POISONING_ATTACKS: readonly PoisoningAttack<any>[] = [badnets, labelFlipping, cleanLabel, featureCollision, gradientMatching, tabularBlindSpot];

export function poisoningAttackByName(name: string): PoisoningAttack | undefined {
  return POISONING_ATTACKS.find((a) => a.name === name) as PoisoningAttack | undefined;
}
