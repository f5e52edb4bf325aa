/**
 * What malicious clients send, for the simulation harness (`aegis fl simulate`). Each
 * attacker controls its own update only; LIE is given the honest clients' updates of the
 * round as well as their own honestly trained ones, to estimate the benign distribution.
 *
 * - sign-flip: the client trains honestly and sends −λ times its update (λ = 4 by
 *   default, a common choice in the Byzantine-robustness literature).
 * - scaled: the honest update times λ (default 10): a large-norm update in a plausible
 *   direction, which averaging turns into a step far too long.
 * - gaussian: an update of i.i.d. N(0, σ²) coordinates, no training: Blanchard et al.'s
 *   Gaussian Byzantine worker. σ = 10 by default, the magnitude of Flower's FLANDERS
 *   baseline (which adds N(0, 10²) to the trained parameters; Blanchard et al. use σ = 200).
 *   At σ 0.05 the noise averaged away and FedAvg lost under 2 points; at σ 1 it lost 11.
 * - lie, "A Little Is Enough" (Baruch, Baruch and Goldberg 2019): every attacker sends
 *   μ − z·σ, the honest coordinate-wise mean minus z standard deviations, with
 *   z = Φ⁻¹((n − s)/n), s = ⌊n/2 + 1⌋ − f: the largest shift that still keeps the attackers
 *   inside the majority the median and Krum trust. At n = 100, f = 20 that is z ≈ 0.50, which
 *   moves the mean by 0.1σ a round: the attack is built to slip past robust rules, not to
 *   wreck the mean. `z` overrides it (Flower's FLANDERS baseline, which takes the square root
 *   of σ and Φ where the paper has Φ⁻¹, sends a far larger shift).
 * - backdoor, model replacement (Bagdasaryan et al. 2020, "How To Backdoor Federated
 *   Learning"): the attacker trains on its data with a share of it stamped with a trigger
 *   (a white 4×4 square in the bottom-right corner) and relabelled to the target class,
 *   then scales its update by γ = (examples in the round) / (examples of all attackers), so
 *   that under weighted FedAvg the attackers' combined update replaces the global model's
 *   step. Deviation: the paper's γ = n/η assumes one attacker and equal weights.
 */
import type { Rng } from "../../data/index.js";
import { AegisError } from "../../errors.js";
import { normalQuantile } from "../../normal.js";
import { float32, type Tensor } from "../../tensor.js";
import type { ClientData } from "./client.js";

export const FL_ATTACKS = ["none", "sign-flip", "scaled", "gaussian", "lie", "backdoor"] as const;
export type FlAttack = (typeof FL_ATTACKS)[number];

export interface AttackSettings {
  /** λ of sign-flip (default 4) and scaled (default 10). */
  scale?: number;
  /** σ of gaussian (default 10). */
  sigma?: number;
  /** LIE's z instead of Baruch et al.'s, computed from the round's n and f. */
  z?: number;
  /** The backdoor's target class (default 0). */
  target?: number;
  /** Share of an attacker's examples stamped with the trigger (default 0.5). */
  poisonFraction?: number;
}

export function parseAttack(name: string): FlAttack {
  if (!(FL_ATTACKS as readonly string[]).includes(name)) throw new AegisError("BAD_OPTION", `unknown attack "${name}"; choose from ${FL_ATTACKS.join(", ")}`);
  return name as FlAttack;
}

/** True when the attacker's message starts from training on its own (possibly poisoned) data. */
export function attackTrains(attack: FlAttack): boolean {
  return attack !== "gaussian";
}

export function signFlip(delta: Float32Array, settings: AttackSettings): Float32Array {
  const lambda = settings.scale ?? 4;
  return Float32Array.from(delta, (v) => -lambda * v);
}

export function scaled(delta: Float32Array, settings: AttackSettings): Float32Array {
  const lambda = settings.scale ?? 10;
  return Float32Array.from(delta, (v) => lambda * v);
}

const GAUSSIAN_SIGMA = 10;

export function gaussianUpdate(size: number, settings: AttackSettings, rng: Rng): Float32Array {
  const sigma = settings.sigma ?? GAUSSIAN_SIGMA;
  return Float32Array.from({ length: size }, () => sigma * rng.normal());
}

export interface CraftContext {
  /** The attacker's own trained update (every attack but gaussian). */
  own?: Float32Array;
  /** Parameters in the model. */
  size: number;
  /** LIE's μ − zσ for the round. */
  lie?: Float32Array;
  /** Model replacement's γ. */
  replacementScale: number;
  rng: Rng;
}

/** The update an attacker sends. */
export function maliciousUpdate(attack: FlAttack, settings: AttackSettings, c: CraftContext): Float32Array {
  const own = (): Float32Array => {
    if (!c.own) throw new Error(`the ${attack} attack starts from the attacker's trained update`);
    return c.own;
  };
  switch (attack) {
    case "none":
      return own();
    case "sign-flip":
      return signFlip(own(), settings);
    case "scaled":
      return scaled(own(), settings);
    case "gaussian":
      return gaussianUpdate(c.size, settings, c.rng);
    case "lie":
      if (!c.lie) throw new Error("the LIE attack needs the round's μ − zσ");
      return c.lie;
    case "backdoor":
      return scaled(own(), { scale: c.replacementScale });
  }
}

/** Baruch et al.'s z for n clients of which f are attackers. */
export function lieZ(n: number, f: number): number {
  const s = Math.floor(n / 2 + 1) - f;
  return normalQuantile(Math.min(Math.max((n - s) / n, 1e-6), 1 - 1e-6));
}

/** μ − zσ over the honest updates, per coordinate (population standard deviation). */
export function littleIsEnough(honest: readonly Float32Array[], z: number): Float32Array {
  const d = honest[0].length;
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    let sum = 0;
    let squares = 0;
    for (const u of honest) {
      sum += u[i];
      squares += u[i] * u[i];
    }
    const mean = sum / honest.length;
    const std = Math.sqrt(Math.max(0, squares / honest.length - mean * mean));
    out[i] = mean - z * std;
  }
  return out;
}

/**
 * Stamps the trigger on a copy of the samples: a 4×4 square at the clip maximum in the
 * bottom-right corner of every channel ([C, H, W] samples, or flat samples whose size is a
 * perfect square); tabular samples get their last 3 features set to the maximum instead.
 */
export function stampTrigger(x: Tensor<"float32">, high = 1): Tensor<"float32"> {
  const out = float32(x.shape, Float32Array.from(x.data));
  const per = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const side = Math.sqrt(per);
  const image =
    x.shape.length === 4 ? { c: x.shape[1], h: x.shape[2], w: x.shape[3] } : Number.isInteger(side) && side >= 8 ? { c: 1, h: side, w: side } : undefined;
  for (let r = 0; r < x.shape[0]; r++) {
    const base = r * per;
    if (!image) {
      for (let j = Math.max(0, per - 3); j < per; j++) out.data[base + j] = high;
      continue;
    }
    const { c, h, w } = image;
    for (let ch = 0; ch < c; ch++) for (let i = h - 5; i < h - 1; i++) for (let j = w - 5; j < w - 1; j++) out.data[base + ch * h * w + i * w + j] = high;
  }
  return out;
}

/** The attacker's training data: the first share of its examples stamped and relabelled. */
export function poisonClientData(data: ClientData, settings: AttackSettings): ClientData {
  const target = settings.target ?? 0;
  const count = Math.round((settings.poisonFraction ?? 0.5) * data.labels.length);
  const stamped = stampTrigger(data.x);
  const per = data.x.data.length / Math.max(1, data.labels.length);
  const x = float32(data.x.shape, Float32Array.from(data.x.data));
  x.data.set(stamped.data.subarray(0, count * per), 0);
  return { x, labels: data.labels.map((label, i) => (i < count ? target : label)) };
}
