/**
 * Optimizers over Float32Array parameters, updated in place. Deterministic: no
 * randomness, and the same arithmetic order on every run.
 */
import type { Parameter } from "./classifier.js";

export interface Optimizer {
  readonly name: string;
  /** Applies one update from the gradients (same order as the parameters). */
  step(params: readonly Parameter[], grads: ReadonlyMap<string, Float32Array>): void;
  learningRate: number;
  /** The optimizer's internal state (step count, moment buffers), for checkpoints. */
  exportState(): OptimizerState;
  /** Restores a state from exportState(), so a resumed run continues bit for bit. */
  importState(state: OptimizerState): void;
}

export interface OptimizerState {
  step: number;
  /** Buffers by "<parameter name>/<slot>". */
  buffers: Record<string, Float32Array>;
}

function copyBuffers(from: ReadonlyMap<string, Float32Array>, slot: string, into: Record<string, Float32Array>): void {
  for (const [name, buffer] of from) into[`${name}/${slot}`] = Float32Array.from(buffer);
}

function readBuffers(state: OptimizerState, slot: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const suffix = `/${slot}`;
  for (const [key, buffer] of Object.entries(state.buffers)) if (key.endsWith(suffix)) out.set(key.slice(0, -suffix.length), Float32Array.from(buffer));
  return out;
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** SGD with heavy-ball or Nesterov momentum and L2 weight decay, as torch.optim.SGD. */
export function sgd(options: SgdOptions): Optimizer {
  const momentum = options.momentum ?? 0;
  const decay = options.weightDecay ?? 0;
  const velocity = new Map<string, Float32Array>();
  return {
    name: "sgd",
    learningRate: options.lr,
    step(params, grads) {
      const lr = this.learningRate;
      for (const p of params) {
        const g = grads.get(p.name);
        if (!g) continue;
        const w = p.value;
        let v = velocity.get(p.name);
        if (momentum > 0 && !v) {
          v = new Float32Array(w.length);
          velocity.set(p.name, v);
        }
        for (let i = 0; i < w.length; i++) {
          let d = g[i] + decay * w[i];
          if (v) {
            v[i] = momentum * v[i] + d;
            d = options.nesterov ? d + momentum * v[i] : v[i];
          }
          w[i] -= lr * d;
        }
      }
    },
    exportState() {
      const buffers: Record<string, Float32Array> = {};
      copyBuffers(velocity, "velocity", buffers);
      return { step: 0, buffers };
    },
    importState(state) {
      velocity.clear();
      for (const [name, v] of readBuffers(state, "velocity")) velocity.set(name, v);
    },
  };
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** Adam (Kingma & Ba 2015) with bias correction; weight decay added to the gradient, as torch.optim.Adam. */
export function adam(options: AdamOptions): Optimizer {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  const decay = options.weightDecay ?? 0;
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  let t = 0;
  return {
    name: "adam",
    learningRate: options.lr,
    step(params, grads) {
      t++;
      const lr = this.learningRate;
      const c1 = 1 - beta1 ** t;
      const c2 = 1 - beta2 ** t;
      for (const p of params) {
        const g = grads.get(p.name);
        if (!g) continue;
        const w = p.value;
        let s = moments.get(p.name);
        if (!s) {
          s = { m: new Float32Array(w.length), v: new Float32Array(w.length) };
          moments.set(p.name, s);
        }
        const { m, v } = s;
        for (let i = 0; i < w.length; i++) {
          const gi = g[i] + decay * w[i];
          m[i] = beta1 * m[i] + (1 - beta1) * gi;
          v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
          w[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
        }
      }
    },
    exportState() {
      const buffers: Record<string, Float32Array> = {};
      copyBuffers(new Map([...moments].map(([name, s]) => [name, s.m])), "m", buffers);
      copyBuffers(new Map([...moments].map(([name, s]) => [name, s.v])), "v", buffers);
      return { step: t, buffers };
    },
    importState(state) {
      t = state.step;
      moments.clear();
      const vs = readBuffers(state, "v");
      for (const [name, m] of readBuffers(state, "m")) moments.set(name, { m, v: vs.get(name) ?? new Float32Array(m.length) });
    },
  };
}
