/**
 * One entry point to both accountants (rdp.ts, prv.ts) for DP-SGD's Poisson-subsampled
 * Gaussian mechanism: ε at δ for a history of (σ, q, steps), the inverse (the σ that spends
 * a target ε, as Opacus's make_private_with_epsilon), and a running accountant that
 * training steps feed.
 */
import { AegisError } from "../../errors.js";
import { type PrvOptions, prvEpsilon } from "./prv.js";
import { type GaussianComposition, type RdpConversion, rdpEpsilon } from "./rdp.js";

export const ACCOUNTANTS = ["rdp", "prv"] as const;
export type AccountantName = (typeof ACCOUNTANTS)[number];

export interface AccountingOptions extends PrvOptions {
  accountant?: AccountantName;
  /** RDP only (default balle2020). */
  conversion?: RdpConversion;
  /** RDP only: the orders to minimise over. */
  orders?: readonly number[];
}

export interface PrivacySpent {
  epsilon: number;
  delta: number;
  accountant: AccountantName;
  /** RDP: the conversion and the order that gave ε. */
  conversion?: RdpConversion;
  order?: number;
  /** PRV: the discretised estimate and the lower bound (ε is the upper bound). */
  estimate?: number;
  lower?: number;
}

export function checkComposition(c: GaussianComposition): void {
  if (!(c.noiseMultiplier >= 0 && Number.isFinite(c.noiseMultiplier)))
    throw new AegisError("BAD_OPTION", `the noise multiplier must be a number ≥ 0, not ${c.noiseMultiplier}`);
  if (!(c.samplingRate >= 0 && c.samplingRate <= 1)) throw new AegisError("BAD_OPTION", `the sampling rate must be in [0, 1], not ${c.samplingRate}`);
  if (!(Number.isInteger(c.steps) && c.steps >= 0)) throw new AegisError("BAD_OPTION", `the number of steps must be an integer ≥ 0, not ${c.steps}`);
}

export function checkDelta(delta: number): void {
  if (!(delta > 0 && delta < 1)) throw new AegisError("BAD_OPTION", `δ must be in (0, 1), not ${delta}; 1/n or below for n examples is usual`);
}

/** ε spent at δ by the compositions. */
export function epsilonSpent(compositions: readonly GaussianComposition[], delta: number, options: AccountingOptions = {}): PrivacySpent {
  checkDelta(delta);
  for (const c of compositions) checkComposition(c);
  const accountant = options.accountant ?? "rdp";
  if (accountant === "rdp") {
    const conversion = options.conversion ?? "balle2020";
    const { epsilon, order } = rdpEpsilon(compositions, delta, { orders: options.orders, conversion });
    return { epsilon, delta, accountant, conversion, order };
  }
  if (accountant === "prv") {
    const { epsilon, estimate, lower } = prvEpsilon(compositions, delta, options);
    return { epsilon, delta, accountant, estimate, lower };
  }
  throw new AegisError("BAD_OPTION", `the accountant must be one of ${ACCOUNTANTS.join(", ")}, not "${accountant}"`);
}

const MAX_NOISE = 1e4;

/**
 * The smallest noise multiplier (to a relative 10⁻³, rounded up) whose ε at δ after `steps`
 * steps at rate q is at most the target: bisection, as ε falls with σ.
 */
export function noiseMultiplierFor(
  request: { targetEpsilon: number; delta: number; samplingRate: number; steps: number },
  options: AccountingOptions = {},
): number {
  const { targetEpsilon, delta, samplingRate, steps } = request;
  if (!(targetEpsilon > 0)) throw new AegisError("BAD_OPTION", `the target ε must be positive, not ${targetEpsilon}`);
  const epsilonAt = (sigma: number) => epsilonSpent([{ noiseMultiplier: sigma, samplingRate, steps }], delta, options).epsilon;
  let high = 1;
  while (epsilonAt(high) > targetEpsilon) {
    high *= 2;
    if (high > MAX_NOISE) {
      throw new AegisError(
        "BAD_OPTION",
        `no noise multiplier up to ${MAX_NOISE} spends only ε = ${targetEpsilon} over ${steps} steps at rate ${samplingRate}; allow a larger ε or δ, or train fewer steps`,
      );
    }
  }
  let low = high / 2;
  if (epsilonAt(low) <= targetEpsilon) low = 0;
  while ((high - low) / high > 1e-3) {
    const mid = (low + high) / 2;
    if (epsilonAt(mid) <= targetEpsilon) high = mid;
    else low = mid;
  }
  return high;
}

/** A running accountant: training feeds it steps, and it tells ε so far. */
export class PrivacyAccountant {
  private readonly history: GaussianComposition[] = [];

  constructor(private readonly options: AccountingOptions = {}) {}

  step(noiseMultiplier: number, samplingRate: number, steps = 1): void {
    const last = this.history.at(-1);
    if (last && last.noiseMultiplier === noiseMultiplier && last.samplingRate === samplingRate) last.steps += steps;
    else this.history.push({ noiseMultiplier, samplingRate, steps });
  }

  get steps(): number {
    return this.history.reduce((s, c) => s + c.steps, 0);
  }

  spent(delta: number): PrivacySpent {
    return epsilonSpent(this.history, delta, this.options);
  }
}
