/** Every attack Aegis has, by name: the registry `aegis attack` and `aegis audit` read. */

import { CONTINUOUS_INPUTS, type InputKind, kindText } from "../engine/input-kind.js";
import { adversarialPatch } from "./evasion/adversarial-patch.js";
import { apgdCe, apgdDlr, apgdT } from "./evasion/apgd.js";
import { autoattack } from "./evasion/autoattack.js";
import { bim } from "./evasion/bim.js";
import { boundary } from "./evasion/boundary.js";
import { carliniWagnerL2 } from "./evasion/carlini-wagner-l2.js";
import { carliniWagnerLinf } from "./evasion/carlini-wagner-linf.js";
import { deepFool } from "./evasion/deepfool.js";
import { ead } from "./evasion/ead.js";
import { embeddingPgd } from "./evasion/embedding-pgd.js";
import { fab } from "./evasion/fab.js";
import { fgsm } from "./evasion/fgsm.js";
import { hopskipjump } from "./evasion/hopskipjump.js";
import { hotflip } from "./evasion/hotflip.js";
import { jsma } from "./evasion/jsma.js";
import { mim } from "./evasion/mim.js";
import { nes } from "./evasion/nes.js";
import { pgd } from "./evasion/pgd.js";
import { signOpt } from "./evasion/sign-opt.js";
import { simba } from "./evasion/simba.js";
import { square } from "./evasion/square.js";
import { uap } from "./evasion/universal-perturbation.js";
import { zoo } from "./evasion/zoo.js";
import type { Attack, Capability, CommonParams } from "./types.js";

export { loadConstraintsFile, parseConstraints } from "./constraints-file.js";
export { type AttackMetrics, attackMetrics } from "./metrics.js";
export { changedPositions } from "./tokens.js";
export type { Attack, AttackContext, AttackOutput, Capability, CommonParams, FeatureConstraints, Norm } from "./types.js";
export {
  adversarialPatch,
  apgdCe,
  apgdDlr,
  apgdT,
  autoattack,
  bim,
  boundary,
  carliniWagnerL2,
  carliniWagnerLinf,
  deepFool,
  ead,
  embeddingPgd,
  fab,
  fgsm,
  hopskipjump,
  hotflip,
  jsma,
  mim,
  nes,
  pgd,
  signOpt,
  simba,
  square,
  uap,
  zoo,
};

// biome-ignore lint/suspicious/noExplicitAny: a registry of attacks over different model capabilities
export const ATTACKS: readonly Attack<any, any>[] = [
  fgsm,
  bim,
  pgd,
  mim,
  apgdCe,
  apgdDlr,
  apgdT,
  fab,
  autoattack,
  carliniWagnerL2,
  carliniWagnerLinf,
  deepFool,
  ead,
  jsma,
  uap,
  adversarialPatch,
  square,
  simba,
  hopskipjump,
  nes,
  zoo,
  boundary,
  signOpt,
  hotflip,
  embeddingPgd,
];

export function attackByName(name: string): Attack<CommonParams, unknown> | undefined {
  return ATTACKS.find((a) => a.name === name);
}

/** The attacks a model with these capabilities (and inputs of this kind) can run. */
export function applicableAttacks(capabilities: ReadonlySet<Capability>, kind?: InputKind): Attack<CommonParams, unknown>[] {
  return ATTACKS.filter((a) => a.needs.every((c: Capability) => capabilities.has(c)) && (kind === undefined || inputMismatch(a, kind) === null));
}

/** Why an attack means nothing on inputs of this kind ("works on images, not tabular rows"), or null when it applies. */
// biome-ignore lint/suspicious/noExplicitAny: any attack, whatever model it needs
export function inputMismatch(attack: Attack<any, any>, kind: InputKind): string | null {
  const kinds: readonly InputKind[] = attack.inputs ?? CONTINUOUS_INPUTS;
  return kinds.includes(kind) ? null : `works on ${kinds.map(kindText).join(" and ")}, not ${kindText(kind)}`;
}
export type { AutoAttackOutput } from "./evasion/autoattack.js";
export * from "./extraction/index.js";
export * from "./inference/index.js";
export type { PerturbationStats } from "./metrics.js";
export { type AttackParams, attackParams } from "./params.js";
export * from "./poisoning/index.js";
