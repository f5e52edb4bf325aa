/**
 * An attack's parameters for one run: the paper's defaults, the caller's batch size when
 * the attack takes one, then the caller's settings (CLI flags, an audit.yaml entry). A
 * setting the attack does not declare is an error the user can fix, or, for the built-in
 * suite that hands budgets such as maxQueries to every attack, quietly dropped.
 */
import { AegisError } from "../errors.js";
import type { Attack, CommonParams } from "./types.js";

export type AttackParams = CommonParams & Record<string, unknown>;

export interface ParamOptions {
  /** Samples per model call, for attacks that declare batchSize. */
  batchSize?: number;
  /** Drop settings the attack does not declare instead of refusing them. */
  lenient?: boolean;
  /** How the user wrote a setting (a flag such as --max-iter), for the error message. */
  spelled?: (key: string) => string;
}

const LOSSES = ["ce", "margin", "dlr"];

// biome-ignore lint/suspicious/noExplicitAny: any attack, whatever model it needs
export function attackParams(attack: Attack<any, any>, settings: Record<string, unknown>, options: ParamOptions = {}): AttackParams {
  const declared = new Set(Object.keys(attack.help));
  const params: AttackParams = { ...attack.defaults };
  if (options.batchSize !== undefined && declared.has("batchSize")) params.batchSize = options.batchSize;
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    if (!declared.has(key)) {
      if (options.lenient) continue;
      const spelled = options.spelled?.(key) ?? `parameter "${key}"`;
      throw new AegisError("BAD_OPTION", `${attack.name} has no ${spelled} (aegis attack --help-attack ${attack.name} lists its parameters)`);
    }
    params[key] = value;
  }
  if (!attack.norms.includes(params.norm)) throw new AegisError("BAD_OPTION", `${attack.name} supports --norm ${attack.norms.join(", ")}, not ${params.norm}`);
  if (params.loss !== undefined && !LOSSES.includes(String(params.loss)))
    throw new AegisError("BAD_OPTION", `--loss must be ${LOSSES.join(", ")}, not "${params.loss}"`);
  return params;
}
