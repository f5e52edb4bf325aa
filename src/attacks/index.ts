/** Every attack Aegis has, by name: the registry `aegis attack` and `aegis audit` read. */
import { adversarialPatch } from "./evasion/adversarial-patch.js";
import { apgdCe, apgdDlr, apgdT } from "./evasion/apgd.js";
import { autoattack } from "./evasion/autoattack.js";
import { bim } from "./evasion/bim.js";
import { boundary } from "./evasion/boundary.js";
import { carliniWagnerL2 } from "./evasion/carlini-wagner-l2.js";
import { carliniWagnerLinf } from "./evasion/carlini-wagner-linf.js";
import { deepFool } from "./evasion/deepfool.js";
import { ead } from "./evasion/ead.js";
import { fab } from "./evasion/fab.js";
import { fgsm } from "./evasion/fgsm.js";
import { hopskipjump } from "./evasion/hopskipjump.js";
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
export type { Attack, AttackContext, AttackOutput, Capability, CommonParams, Norm } from "./types.js";
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
  fab,
  fgsm,
  hopskipjump,
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
];

export function attackByName(name: string): Attack<CommonParams, unknown> | undefined {
  return ATTACKS.find((a) => a.name === name);
}

/** The attacks a model with these capabilities can run. */
export function applicableAttacks(capabilities: ReadonlySet<Capability>): Attack<CommonParams, unknown>[] {
  return ATTACKS.filter((a) => a.needs.every((c: Capability) => capabilities.has(c)));
}
export type { AutoAttackOutput } from "./evasion/autoattack.js";
export * from "./extraction/index.js";
export type { PerturbationStats } from "./metrics.js";
export { type AttackParams, attackParams } from "./params.js";
