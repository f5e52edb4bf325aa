/**
 * Optimizers over Float32Array parameters, each in two forms of the same update: `step`,
 * in TypeScript, for gradients computed elsewhere (aggregated, noised, clipped by the
 * caller), and `graph`, ONNX nodes that the training step appends to the gradient graph so
 * that ONNX Runtime computes the gradients and applies the update in one run (see
 * training-step.ts). Both forms read and write the same state buffers and step count, so
 * checkpoints and learning-rate schedules work with either. Deterministic: no randomness,
 * and the same arithmetic order on every run.
 */
import type { GraphBuilder } from "../onnx/builder.js";
import type { Parameter } from "./classifier.js";

export interface Optimizer {
  readonly name: string;
  /** Applies one update from the gradients (same order as the parameters). */
  step(params: readonly Parameter[], grads: ReadonlyMap<string, Float32Array>): void;
  /** The same update as graph nodes. */
  readonly graph: UpdateGraph;
  learningRate: number;
  /** The optimizer's internal state (step count, moment buffers), for checkpoints. */
  exportState(): OptimizerState;
  /** Restores a state from exportState(), so a resumed run continues bit for bit. */
  importState(state: OptimizerState): void;
}

export interface UpdateGraph {
  /** State buffers each parameter carries, each of the parameter's shape (Adam: "m", "v"). */
  readonly slots: readonly string[];
  /** Per-step scalar inputs of the update (learning rate, bias corrections). */
  readonly scalars: readonly string[];
  /** Optimizers with equal keys append identical nodes (the hyperparameters baked into them). */
  readonly key: string;
  /** Appends one parameter's update; returns the values holding its new value and new slots. */
  append(b: GraphBuilder, p: UpdateInputs): { value: string; slots: string[] };
  /** Starts a step: advances the step count and returns the values of the scalar inputs. */
  begin(): Record<string, number>;
  /** A parameter's state buffers in `slots` order (zeros at first). */
  buffers(name: string, size: number): Float32Array[];
  /** Replaces them (the training step hands over the arrays its run wrote). */
  replace(name: string, buffers: Float32Array[]): void;
}

export interface UpdateInputs {
  value: string;
  grad: string;
  /** The current slots, in `slots` order. */
  slots: readonly string[];
  /** The scalar inputs by name. */
  scalars: Readonly<Record<string, string>>;
}

export interface OptimizerState {
  step: number;
  /** Buffers by "<parameter name>/<slot>". */
  buffers: Record<string, Float32Array>;
}

/** Per-parameter slot buffers, shared by both forms and by checkpoints. */
class SlotStore {
  private readonly byParam = new Map<string, Float32Array[]>();
  constructor(readonly slots: readonly string[]) {}

  get(name: string, size: number): Float32Array[] {
    let buffers = this.byParam.get(name);
    if (!buffers) {
      buffers = this.slots.map(() => new Float32Array(size));
      this.byParam.set(name, buffers);
    }
    return buffers;
  }

  set(name: string, buffers: Float32Array[]): void {
    this.byParam.set(name, buffers);
  }

  export(step: number): OptimizerState {
    const buffers: Record<string, Float32Array> = {};
    for (const [name, arrays] of this.byParam) for (const [i, slot] of this.slots.entries()) buffers[`${name}/${slot}`] = Float32Array.from(arrays[i]);
    return { step, buffers };
  }

  import(state: OptimizerState): void {
    this.byParam.clear();
    const sizes = new Map<string, number>();
    for (const [key, buffer] of Object.entries(state.buffers)) sizes.set(key.slice(0, key.lastIndexOf("/")), buffer.length);
    for (const [name, size] of sizes) {
      this.byParam.set(
        name,
        this.slots.map((slot) => Float32Array.from(state.buffers[`${name}/${slot}`] ?? new Float32Array(size))),
      );
    }
  }
}

/** g + decay·w, the L2 term torch.optim adds to the gradient. */
function decayed(b: GraphBuilder, grad: string, value: string, decay: number): string {
  return decay === 0 ? grad : b.op("Add", [grad, b.op("Mul", [value, b.scalar(decay)])]);
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
  const nesterov = options.nesterov ?? false;
  const store = new SlotStore(momentum > 0 ? ["velocity"] : []);
  const optimizer: Optimizer = {
    name: "sgd",
    learningRate: options.lr,
    step(params, grads) {
      const lr = this.learningRate;
      for (const p of params) {
        const g = grads.get(p.name);
        if (!g) continue;
        const w = p.value;
        const v = momentum > 0 ? store.get(p.name, w.length)[0] : undefined;
        for (let i = 0; i < w.length; i++) {
          let d = g[i] + decay * w[i];
          if (v) {
            v[i] = momentum * v[i] + d;
            d = nesterov ? d + momentum * v[i] : v[i];
          }
          w[i] -= lr * d;
        }
      }
    },
    graph: {
      slots: store.slots,
      scalars: ["lr"],
      key: `sgd|${momentum}|${decay}|${nesterov}`,
      append(b, { value, grad, slots, scalars }) {
        let d = decayed(b, grad, value, decay);
        const next: string[] = [];
        if (momentum > 0) {
          const v = b.op("Add", [b.op("Mul", [slots[0], b.scalar(momentum)]), d]);
          next.push(v);
          d = nesterov ? b.op("Add", [d, b.op("Mul", [v, b.scalar(momentum)])]) : v;
        }
        return { value: b.op("Sub", [value, b.op("Mul", [d, scalars.lr])]), slots: next };
      },
      begin: () => ({ lr: optimizer.learningRate }),
      buffers: (name, size) => store.get(name, size),
      replace: (name, buffers) => store.set(name, buffers),
    },
    exportState: () => store.export(0),
    importState: (state) => store.import(state),
  };
  return optimizer;
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
  const store = new SlotStore(["m", "v"]);
  let t = 0;
  const optimizer: Optimizer = {
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
        const [m, v] = store.get(p.name, w.length);
        for (let i = 0; i < w.length; i++) {
          const gi = g[i] + decay * w[i];
          m[i] = beta1 * m[i] + (1 - beta1) * gi;
          v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
          w[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
        }
      }
    },
    graph: {
      slots: store.slots,
      // lr/(1 − β₁ᵗ) and 1/√(1 − β₂ᵗ): w −= lr·m̂/(√v̂ + ε) = lrC1·m/(√v·invSqrtC2 + ε).
      scalars: ["lrC1", "invSqrtC2"],
      key: `adam|${beta1}|${beta2}|${eps}|${decay}`,
      append(b, { value, grad, slots, scalars }) {
        const g = decayed(b, grad, value, decay);
        const m = b.op("Add", [b.op("Mul", [slots[0], b.scalar(beta1)]), b.op("Mul", [g, b.scalar(1 - beta1)])]);
        const v = b.op("Add", [b.op("Mul", [slots[1], b.scalar(beta2)]), b.op("Mul", [b.op("Mul", [g, g]), b.scalar(1 - beta2)])]);
        const denominator = b.op("Add", [b.op("Mul", [b.op("Sqrt", [v]), scalars.invSqrtC2]), b.scalar(eps)]);
        return { value: b.op("Sub", [value, b.op("Mul", [b.op("Div", [m, denominator]), scalars.lrC1])]), slots: [m, v] };
      },
      begin() {
        t++;
        return { lrC1: optimizer.learningRate / (1 - beta1 ** t), invSqrtC2: 1 / Math.sqrt(1 - beta2 ** t) };
      },
      buffers: (name, size) => store.get(name, size),
      replace: (name, buffers) => store.set(name, buffers),
    },
    exportState: () => store.export(t),
    importState(state) {
      t = state.step;
      store.import(state);
    },
  };
  return optimizer;
}
