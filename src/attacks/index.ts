/** Every attack Aegis has, by name: the registry `aegis attack` and `aegis audit` read. */
import { bim } from "./evasion/bim.js";
import { fgsm } from "./evasion/fgsm.js";
import { mim } from "./evasion/mim.js";
import { pgd } from "./evasion/pgd.js";
import type { Attack, Capability, CommonParams } from "./types.js";

export { type AttackMetrics, attackMetrics } from "./metrics.js";
export type { Attack, AttackContext, AttackOutput, Capability, CommonParams, Norm } from "./types.js";
export { bim, fgsm, mim, pgd };

// biome-ignore lint/suspicious/noExplicitAny: a registry of attacks over different model capabilities
export const ATTACKS: readonly Attack<any, any>[] = [fgsm, bim, pgd, mim];

export function attackByName(name: string): Attack<CommonParams, unknown> | undefined {
  return ATTACKS.find((a) => a.name === name);
}

/** The attacks a model with these capabilities can run. */
export function applicableAttacks(capabilities: ReadonlySet<Capability>): Attack<CommonParams, unknown>[] {
  return ATTACKS.filter((a) => a.needs.every((c: Capability) => capabilities.has(c)));
}
