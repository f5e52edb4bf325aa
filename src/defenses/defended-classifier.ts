/**
 * A classifier wrapped in input preprocessors and output postprocessors, as ART's estimators
 * carry their defences, so that every existing attack runs on the defended model unchanged.
 * predict = postprocess(model.predict(pre(x))). Gradients are taken by the model at pre(x) and
 * chained back through each preprocessor's `backward` — BPDA, the Backward Pass Differentiable
 * Approximation of Athalye, Carlini & Wagner 2018 ("Obfuscated Gradients Give a False Sense of
 * Security") — and, for randomised preprocessors, averaged over `eot` fresh draws (Expectation
 * over Transformation, Athalye, Engstrom, Ilyas & Kwok 2018). With `gradient: "naive"` the
 * preprocessors' own derivatives (`naiveBackward`, e.g. zero through a quantiser) are used
 * instead: the gradient an attacker differentiating the deployed graph would see, for the
 * non-adaptive side of an evaluation. Postprocessors change what a caller sees of the outputs
 * (and the `output` of valueAndGradient) but not the gradients, which are those of the model's
 * own loss, as in ART. With EOT, valueAndGradient returns the per-sample loss, the shown
 * output and the gradient each averaged over the same draws, so an attack's success check
 * sees the expected prediction; `predict` is always one draw, as deployed.
 */
import type { Classifier, Labels, LossOptions } from "../engine/capabilities.js";
import { probabilitiesOf } from "../engine/probabilities.js";
import { AegisError } from "../errors.js";
import { float32, type Tensor } from "../tensor.js";
import type { Postprocessor, Preprocessor } from "./types.js";

export interface DefendOptions {
  preprocessors?: readonly Preprocessor[];
  postprocessors?: readonly Postprocessor[];
  /** Draws averaged per gradient when a preprocessor is randomised (default 1: no EOT). */
  eot?: number;
  /** "bpda" (default) chains each preprocessor's `backward`; "naive" its own derivative. */
  gradient?: "bpda" | "naive";
}

export interface DefendedClassifier extends Classifier {
  readonly model: Classifier;
  readonly preprocessors: readonly Preprocessor[];
  readonly postprocessors: readonly Postprocessor[];
  readonly eot: number;
  /** pre(x): the input the wrapped model sees (one draw for randomised preprocessors). */
  preprocess(x: Tensor<"float32">): Promise<Tensor<"float32">>;
}

/** The intermediate inputs x₀ = x, x₁ = p₁(x₀), …, xₖ = pₖ(xₖ₋₁). */
async function forwardChain(preprocessors: readonly Preprocessor[], x: Tensor<"float32">): Promise<Tensor<"float32">[]> {
  const chain = [x];
  for (const p of preprocessors) {
    const next = await p.apply(chain.at(-1)!);
    if (next.data.length !== x.data.length) {
      throw new AegisError("SHAPE_MISMATCH", `preprocessor ${p.name} changed the input's shape; preprocessors must keep it`);
    }
    chain.push(next);
  }
  return chain;
}

function accumulate(sum: Float32Array, add: Float32Array, weight: number): void {
  for (let i = 0; i < sum.length; i++) sum[i] += weight * add[i]!;
}

export function defend(model: Classifier, options: DefendOptions = {}): DefendedClassifier {
  const preprocessors = [...(options.preprocessors ?? [])];
  const postprocessors = [...(options.postprocessors ?? [])];
  const eot = options.eot ?? 1;
  if (!Number.isInteger(eot) || eot < 1) throw new AegisError("BAD_OPTION", `eot is a number of draws, a positive integer; got ${eot}`);
  const naive = options.gradient === "naive";
  const randomized = preprocessors.some((p) => p.randomized);
  const draws = randomized ? eot : 1;
  const outputKind = postprocessors.length > 0 ? "probs" : model.outputKind;

  /** What the caller sees of raw model outputs. */
  const present = (raw: Tensor<"float32">): Tensor<"float32"> => {
    if (postprocessors.length === 0) return raw;
    let out = probabilitiesOf(model, raw);
    for (const p of postprocessors) out = p.apply(out);
    return out;
  };

  const backward = (chain: Tensor<"float32">[], grad: Tensor<"float32">): Tensor<"float32"> => {
    let g = grad;
    for (let i = preprocessors.length - 1; i >= 0; i--) {
      const p = preprocessors[i]!;
      g = naive && p.naiveBackward ? p.naiveBackward(chain[i]!, g) : p.backward(chain[i]!, g);
    }
    return g;
  };

  /** ∂/∂x averaged over the draws, each with its own pass through the preprocessors. */
  const gradientOverDraws = async (x: Tensor<"float32">, gradientAt: (input: Tensor<"float32">) => Promise<Tensor<"float32">>) => {
    const grad = new Float32Array(x.data.length);
    for (let d = 0; d < draws; d++) {
      const chain = await forwardChain(preprocessors, x);
      accumulate(grad, backward(chain, await gradientAt(chain.at(-1)!)).data, 1 / draws);
    }
    return float32(x.shape, grad);
  };

  const valueAndGradient = async (x: Tensor<"float32">, y: Labels, lossOptions?: LossOptions) => {
    const grad = new Float32Array(x.data.length);
    const loss = new Float32Array(y.length);
    let output: Float32Array | undefined;
    let shape: readonly number[] = [];
    for (let d = 0; d < draws; d++) {
      const chain = await forwardChain(preprocessors, x);
      const r = await model.valueAndGradient(chain.at(-1)!, y, lossOptions);
      accumulate(grad, backward(chain, r.grad).data, 1 / draws);
      accumulate(loss, r.loss, 1 / draws);
      const shown = present(r.output);
      output ??= new Float32Array(shown.data.length);
      shape = shown.shape;
      accumulate(output, shown.data, 1 / draws);
    }
    return { loss, output: float32(shape, output), grad: float32(x.shape, grad) };
  };

  return {
    model,
    preprocessors,
    postprocessors,
    eot: draws,
    inputShape: model.inputShape,
    numClasses: model.numClasses,
    clipRange: model.clipRange,
    outputKind,
    async preprocess(x) {
      return (await forwardChain(preprocessors, x)).at(-1)!;
    },
    async predict(x) {
      const chain = await forwardChain(preprocessors, x);
      return present(await model.predict(chain.at(-1)!));
    },
    lossGradient: (x, y, lossOptions) => gradientOverDraws(x, (input) => model.lossGradient(input, y, lossOptions)),
    valueAndGradient,
    classGradient: (x, cls) => gradientOverDraws(x, (input) => model.classGradient(input, cls)),
  };
}
