/**
 * The server's side of encrypted inference: it holds the model and the client's public,
 * relinearisation and Galois keys, and turns encrypted inputs into encrypted outputs. It
 * never has a secret key: none of its functions takes one, and a key file that holds one
 * is refused by its kind.
 *
 * Levels and scales. Every activation p(x) = c_d·q(x) + c_0 is evaluated as the monic
 * q(x) = x(…x(x + β_{d−1}) + …) + β_1·x, by Horner, in d − 1 levels; c_d and c_0 are folded
 * into the next affine stage (W·p + b = (c_d·W)·q + b + c_0·W·1), which is why a model
 * must end with one. Plaintexts of an affine stage are encoded at q_ℓ·Δ / (the input's
 * scale), so after the rescale by q_ℓ the output's scale is Δ again, exactly: nothing
 * is relabelled, and the scales are known before any request, so all plaintexts are
 * encoded once when the model is loaded.
 */

import { createHash } from "node:crypto";
import type { CipherText } from "node-seal/implementation/cipher-text.js";
import type { GaloisKeys } from "node-seal/implementation/galois-keys.js";
import type { PlainText } from "node-seal/implementation/plain-text.js";
import type { PublicKey } from "node-seal/implementation/public-key.js";
import type { RelinKeys } from "node-seal/implementation/relin-keys.js";
import { AegisError } from "../../errors.js";
import { decodeContainer, encodeContainer } from "./container.js";
import { type DiagonalLayer, type Im2colLayer, singleLayout } from "./layout.js";
import type { AffineStage, Stage } from "./model.js";
import { type HeModel, paramsId } from "./model-file.js";
import { type CkksContext, ckksContext } from "./seal.js";

/** An affine stage with the previous activation's leading and constant coefficients folded in. */
interface FoldedAffine {
  kind: "affine";
  inputs: number;
  outputs: number;
  weight: Float64Array;
  bias: Float64Array;
}

/** q(x) = x^d + Σ_{k=1}^{d−1} β_k x^k: β_1..β_{d−1} (index k). */
interface MonicPoly {
  kind: "poly";
  beta: number[];
}

type Folded = FoldedAffine | MonicPoly;

export function foldStages(stages: readonly Stage[]): Folded[] {
  const out: Folded[] = [];
  let pending: number[] | undefined;
  for (const stage of stages) {
    if (stage.kind === "poly") {
      const c = stage.coefficients;
      const lead = c[c.length - 1];
      out.push({ kind: "poly", beta: c.map((v) => v / lead).slice(0, -1) });
      pending = c;
      continue;
    }
    out.push(pending ? foldInto(stage, pending[pending.length - 1], pending[0]) : { ...stage });
    pending = undefined;
  }
  return out;
}

function foldInto(stage: AffineStage, lead: number, constant: number): FoldedAffine {
  const { inputs, outputs } = stage;
  const bias = Float64Array.from(stage.bias);
  for (let o = 0; o < outputs; o++) for (let i = 0; i < inputs; i++) bias[o] += constant * stage.weight[o * inputs + i];
  return { kind: "affine", inputs, outputs, weight: stage.weight.map((w) => w * lead), bias };
}

export interface KeySet {
  keyId: string;
  relinKeys?: RelinKeys;
  galoisKeys?: GaloisKeys;
  publicKey: PublicKey;
  /** Bytes held in WebAssembly memory, for a server's budget. */
  bytes: number;
  release(): void;
}

interface Step {
  level: number;
  scale: number;
}

/** A polynomial activation: β plaintexts at the levels Horner's rule reaches them, and the level and scale after each step. */
interface PolyPlan {
  kind: "poly";
  beta: (PlainText | undefined)[];
  steps: Step[];
}

type SinglePlan =
  | { kind: "im2col"; layer: Im2colLayer; plains: PlainText[]; bias: PlainText; out: Step }
  | { kind: "diagonal"; layer: DiagonalLayer; plains: (PlainText | undefined)[][]; bias: PlainText; out: Step }
  | PolyPlan;

type BatchPlan = { kind: "affine"; stage: FoldedAffine; plainScale: number; in: Step; out: Step; bias: (PlainText | undefined)[] } | PolyPlan;

export class HeEvaluator {
  readonly paramsId: string;
  private readonly single?: SinglePlan[];
  private readonly batch?: BatchPlan[];

  private constructor(
    readonly model: HeModel,
    readonly ctx: CkksContext,
  ) {
    this.paramsId = paramsId(model.params);
    const folded = foldStages(model.stages);
    if (model.params.packing === "single") this.single = this.planSingle(folded);
    else this.batch = this.planBatch(folded);
  }

  static async create(model: HeModel): Promise<HeEvaluator> {
    return new HeEvaluator(model, await ckksContext(model.params.parameters));
  }

  /** Loads a public-keys container (what `aegis he keygen` writes as .pub); a secret key is refused by its kind. */
  loadKeys(bytes: Uint8Array, what = "the key file"): KeySet {
    const { header, sections } = decodeContainer(bytes, "public-keys", what);
    if (header.paramsId !== this.paramsId)
      throw new AegisError(
        "BAD_DATA",
        `${what} was made for other encryption parameters than ${this.model.params.name}'s; run \`aegis he keygen\` with its params file`,
      );
    const { seal, context } = this.ctx;
    const load = <T extends { loadArray: (c: typeof context, a: Uint8Array) => void; delete: () => void }>(
      make: () => T,
      section: Uint8Array,
      name: string,
    ): T => {
      const key = make();
      try {
        key.loadArray(context, section);
      } catch (e) {
        key.delete();
        throw new AegisError("BAD_DATA", `the ${name} in ${what} does not load (${String((e as Error)?.message ?? e)})`);
      }
      return key;
    };
    const publicKey = load(seal.PublicKey, sections[0], "public key");
    const relinKeys = sections[1] ? load(seal.RelinKeys, sections[1], "relinearisation keys") : undefined;
    const galoisKeys = sections[2] ? load(seal.GaloisKeys, sections[2], "Galois keys") : undefined;
    if (this.single && this.model.params.galoisSteps.length > 0 && !galoisKeys)
      throw new AegisError("BAD_DATA", `${what} holds no Galois keys, which the single packing needs`);
    return {
      keyId: createHash("sha256").update(bytes).digest("hex"),
      publicKey,
      relinKeys,
      galoisKeys,
      bytes: sections.reduce((a, s) => a + s.length, 0),
      release() {
        publicKey.delete();
        relinKeys?.delete();
        galoisKeys?.delete();
      },
    };
  }

  /** The key id an encrypted request names, for a server that keeps several key sets. */
  requestKeyId(request: Uint8Array): string {
    const { header } = decodeContainer(request, "request", "the request");
    if (typeof header.keyId !== "string") throw new AegisError("BAD_DATA", "the request names no key set; encrypt it with `aegis he encrypt`");
    return header.keyId;
  }

  /** Runs an encrypted request (container bytes) with `keys`; the answer is a response container. */
  infer(request: Uint8Array, keys: KeySet): Buffer {
    const { header, sections } = decodeContainer(request, "request", "the request");
    if (header.paramsId !== this.paramsId) throw new AegisError("BAD_DATA", `the request was encrypted for other parameters than ${this.model.params.name}'s`);
    if (header.keyId !== keys.keyId) throw new AegisError("BAD_DATA", "the request was encrypted under another key set than the one given");
    const samples = header.samples;
    const perGroup = this.ciphertextsPerGroup();
    const groups = this.single ? samples : Math.ceil((samples ?? 0) / this.ctx.slots);
    if (!Number.isInteger(samples) || (samples as number) < 1 || sections.length !== (groups as number) * perGroup)
      throw new AegisError(
        "BAD_DATA",
        `the request holds ${sections.length} ciphertexts, not ${perGroup} per ${this.single ? "sample" : "batch"} of ${samples} samples`,
      );
    const outputs: Uint8Array[] = [];
    for (let g = 0; g < (groups as number); g++) {
      const group = sections.slice(g * perGroup, (g + 1) * perGroup);
      const results = this.single
        ? [
            this.runSingle(
              group.map((s) => this.loadInput(s)),
              keys,
            ),
          ]
        : this.runBatch(group, keys);
      for (const ct of results) {
        outputs.push(ct.saveArray(this.ctx.seal.ComprModeType.zstd));
        ct.delete();
      }
    }
    return encodeContainer({ kind: "response", paramsId: this.paramsId, keyId: keys.keyId, samples }, outputs);
  }

  private ciphertextsPerGroup(): number {
    const input = this.model.params.input;
    return input.kind === "im2col" ? input.ciphertexts : input.kind === "vector" ? 1 : input.features;
  }

  /** A fresh ciphertext as the client must send it: top level, scale Δ, two polynomials. */
  private loadInput(bytes: Uint8Array): CipherText {
    const { seal, context } = this.ctx;
    const ct = seal.CipherText();
    try {
      ct.loadArray(context, bytes);
    } catch (e) {
      ct.delete();
      throw new AegisError("BAD_DATA", `a ciphertext in the request does not load (${String((e as Error)?.message ?? e)})`);
    }
    const top = this.ctx.primes.length - 1;
    if (ct.size !== 2 || ct.scale !== this.ctx.scale || !sameId(ct.parmsId.values, this.ctx.parmsIds[top].values)) {
      ct.delete();
      throw new AegisError(
        "BAD_DATA",
        "a ciphertext in the request is not freshly encrypted at the model's first level and scale; encrypt with `aegis he encrypt`",
      );
    }
    return ct;
  }

  // ---- single packing -------------------------------------------------------------

  /**
   * Plans each stage at its level and scale: `affine` builds an affine stage's plaintexts,
   * encoded at `plainScale` so that after the rescale its output sits at `out`.
   */
  private plan<P>(folded: Folded[], affine: (stage: FoldedAffine, input: Step, plainScale: number, out: Step) => P): (P | PolyPlan)[] {
    const { primes } = this.ctx;
    let step: Step = { level: primes.length - 1, scale: this.ctx.scale };
    return folded.map((stage) => {
      if (stage.kind === "poly") {
        const { plan, out } = this.planPoly(stage, step);
        step = out;
        return plan;
      }
      const plainScale = (this.ctx.scale * primes[step.level]) / step.scale;
      const out: Step = { level: step.level - 1, scale: (step.scale * plainScale) / primes[step.level] };
      const plan = affine(stage, step, plainScale, out);
      step = out;
      return plan;
    });
  }

  private planSingle(folded: Folded[]): SinglePlan[] {
    const { slots } = this.ctx;
    const layout = singleLayout(this.model.stages, slots);
    let affineIndex = 0;
    return this.plan(folded, (stage, input, plainScale, out): SinglePlan => {
      const layer = layout.layers[affineIndex++];
      if (layer.kind === "im2col") {
        const plains = im2colPlains(this.model.stages[0] as AffineStage, layer, slots).map((v) => this.ctx.encodeAt(v, plainScale, input.level));
        const bias = this.ctx.encodeAt(periodic(stage.bias, layer.blockSize), out.scale, out.level);
        return { kind: "im2col", layer, plains, bias, out };
      }
      const plains = diagonalPlains(stage, layer).map((row) => row.map((v) => (v ? this.ctx.encodeAt(v, plainScale, input.level) : undefined)));
      const bias = this.ctx.encodeAt(periodic(stage.bias, layer.diagonals), out.scale, out.level);
      return { kind: "diagonal", layer, plains, bias, out };
    });
  }

  private planPoly(stage: MonicPoly, input: Step): { plan: PolyPlan; out: Step } {
    const { primes } = this.ctx;
    // Horner: y = x + β_{d−1}; then y = y·x (+ β_k) for k = d−2 … 0; each product one level down.
    const steps: Step[] = [input];
    let y = input;
    for (let k = stage.beta.length - 1; k >= 1; k--) {
      y = { level: y.level - 1, scale: (y.scale * input.scale) / primes[y.level] };
      steps.push(y);
    }
    const beta = stage.beta.map((b, k) => {
      if (k === 0 || b === 0) return undefined;
      const at = steps[stage.beta.length - 1 - k];
      return this.ctx.encodeAt(Float64Array.of(b), at.scale, at.level);
    });
    return { plan: { kind: "poly", beta, steps }, out: y };
  }

  private runSingle(inputs: CipherText[], keys: KeySet): CipherText {
    const { evaluator, seal } = this.ctx;
    // A dense first stage reads the one vector ciphertext; an im2col one reads them all.
    let x: CipherText | undefined = this.model.params.input.kind === "vector" ? inputs[0] : undefined;
    for (const plan of this.single as SinglePlan[]) {
      if (plan.kind === "poly") {
        const next = this.runPoly(plan, x as CipherText, keys);
        x?.delete();
        x = next;
        continue;
      }
      const acc = seal.CipherText();
      const tmp = seal.CipherText();
      if (plan.kind === "im2col") {
        for (const [t, ct] of inputs.entries()) accumulate(evaluator, acc, t === 0, ct, plan.plains[t], tmp);
        for (const ct of inputs) ct.delete();
      } else {
        const { baby, giant } = plan.layer;
        const babies = [x as CipherText];
        for (let b = 1; b < baby; b++) babies.push(evaluator.rotateVector(x as CipherText, b, galois(keys)) as CipherText);
        const inner = seal.CipherText();
        let first = true;
        for (let g = 0; g < giant; g++) {
          let any = false;
          for (let b = 0; b < baby; b++) {
            const pt = plan.plains[g][b];
            if (!pt) continue;
            accumulate(evaluator, inner, !any, babies[b], pt, tmp);
            any = true;
          }
          if (!any) continue;
          if (g > 0) evaluator.rotateVector(inner, g * baby, galois(keys), inner);
          if (first) acc.copy(inner);
          else evaluator.add(acc, inner, acc);
          first = false;
        }
        if (first) throw new AegisError("BAD_MODEL", "a layer of the model has only zero weights");
        inner.delete();
        for (const ct of babies) ct.delete();
      }
      tmp.delete();
      // Rotations before the rescale: their key-switching noise is then tiny against the scale Δ·q.
      for (const s of plan.layer.reduceSteps) {
        const r = evaluator.rotateVector(acc, s, galois(keys)) as CipherText;
        evaluator.add(acc, r, acc);
        r.delete();
      }
      evaluator.rescaleToNext(acc, acc);
      acc.setScale(plan.out.scale);
      evaluator.addPlain(acc, plan.bias, acc);
      x = acc;
    }
    return x as CipherText;
  }

  /** Horner's rule on one ciphertext; the input stays untouched. */
  private runPoly(plan: PolyPlan, x: CipherText, keys: KeySet): CipherText {
    const { evaluator, seal } = this.ctx;
    const d = plan.beta.length;
    const y = x.clone();
    const top = plan.beta[d - 1];
    if (top) evaluator.addPlain(y, top, y);
    const xLow = seal.CipherText();
    for (let k = d - 2; k >= 0; k--) {
      const at = plan.steps[d - 1 - k - 1];
      if (at.level === plan.steps[0].level) evaluator.multiply(y, x, y);
      else {
        evaluator.cipherModSwitchTo(x, this.ctx.parmsIds[at.level], xLow);
        evaluator.multiply(y, xLow, y);
      }
      if (!keys.relinKeys) throw new AegisError("BAD_DATA", "the key set holds no relinearisation keys, which polynomial activations need");
      evaluator.relinearize(y, keys.relinKeys, y);
      evaluator.rescaleToNext(y, y);
      y.setScale(plan.steps[d - 1 - k].scale);
      const beta = plan.beta[k];
      if (beta) evaluator.addPlain(y, beta, y);
    }
    xLow.delete();
    return y;
  }

  // ---- batch packing ---------------------------------------------------------------

  private planBatch(folded: Folded[]): BatchPlan[] {
    return this.plan(folded, (stage, input, plainScale, out): BatchPlan => {
      const bias = Array.from(stage.bias, (b) => (b === 0 ? undefined : this.ctx.encodeAt(Float64Array.of(b), out.scale, out.level)));
      return { kind: "affine", stage, plainScale, in: input, out, bias };
    });
  }

  /** One batch: `sections` holds one ciphertext per input feature; the answer one per class. */
  private runBatch(sections: Uint8Array[], keys: KeySet): CipherText[] {
    const { evaluator, seal } = this.ctx;
    let features: CipherText[] = [];
    for (const [index, plan] of (this.batch as BatchPlan[]).entries()) {
      if (plan.kind === "poly") {
        features = features.map((x) => {
          const y = this.runPoly(plan, x, keys);
          x.delete();
          return y;
        });
        continue;
      }
      const { stage } = plan;
      const acc: (CipherText | undefined)[] = new Array(stage.outputs);
      const tmp = seal.CipherText();
      const cache = new Map<number, PlainText>();
      const cacheable = distinctCount(stage.weight) <= 4096;
      for (let i = 0; i < stage.inputs; i++) {
        // The first stage reads its inputs one at a time from the request: memory holds the outputs only.
        const x = index === 0 ? this.loadInput(sections[i]) : features[i];
        for (let o = 0; o < stage.outputs; o++) {
          const w = stage.weight[o * stage.inputs + i];
          if (w === 0) continue;
          let pt = cache.get(w);
          if (!pt) {
            pt = this.ctx.encodeAt(Float64Array.of(w), plan.plainScale, plan.in.level);
            if (cacheable) cache.set(w, pt);
          }
          const target = acc[o] ?? seal.CipherText();
          accumulate(evaluator, target, acc[o] === undefined, x, pt, tmp);
          acc[o] = target;
          if (!cacheable) pt.delete();
        }
        x.delete();
      }
      for (const pt of cache.values()) pt.delete();
      tmp.delete();
      features = acc.map((ct, o) => {
        if (!ct) return this.encryptConstant(stage.bias[o], plan.out, keys);
        evaluator.rescaleToNext(ct, ct);
        ct.setScale(plan.out.scale);
        const b = plan.bias[o];
        if (b) evaluator.addPlain(ct, b, ct);
        return ct;
      });
    }
    return features;
  }

  /** An output whose weights are all zero is its bias alone: encrypted with the public key. */
  private encryptConstant(value: number, at: Step, keys: KeySet): CipherText {
    const { seal, context } = this.ctx;
    const encryptor = seal.Encryptor(context, keys.publicKey);
    const ct = encryptor.encrypt(this.ctx.encodeAt(Float64Array.of(value), at.scale, this.ctx.primes.length - 1)) as CipherText;
    this.ctx.evaluator.cipherModSwitchTo(ct, this.ctx.parmsIds[at.level], ct);
    encryptor.delete();
    return ct;
  }
}

function galois(keys: KeySet): GaloisKeys {
  if (!keys.galoisKeys) throw new AegisError("BAD_DATA", "the key set holds no Galois keys, which the single packing needs");
  return keys.galoisKeys;
}

/** acc = ct·pt (first) or acc += ct·pt. */
function accumulate(evaluator: CkksContext["evaluator"], acc: CipherText, first: boolean, ct: CipherText, pt: PlainText, tmp: CipherText): void {
  if (first) evaluator.multiplyPlain(ct, pt, acc);
  else {
    evaluator.multiplyPlain(ct, pt, tmp);
    evaluator.add(acc, tmp, acc);
  }
}

function sameId(a: BigUint64Array, b: BigUint64Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function distinctCount(values: Float64Array): number {
  return new Set(values).size;
}

/** `values` zero-padded to `period` (it repeats across the slots). */
function periodic(values: Float64Array, period: number): Float64Array {
  const out = new Float64Array(period);
  out.set(values.subarray(0, Math.min(values.length, period)));
  return out;
}

/** Per client ciphertext t: block j holds kernel position k = t·blocks + j's weight for each output channel, over its windows. */
function im2colPlains(first: AffineStage, layer: Im2colLayer, slots: number): Float64Array[] {
  const conv = first.conv as NonNullable<AffineStage["conv"]>;
  const windows = conv.outHeight * conv.outWidth;
  const kernel = conv.inChannels * conv.kernel[0] * conv.kernel[1];
  const blocks = slots / layer.blockSize;
  const plains: Float64Array[] = [];
  for (let t = 0; t * blocks < kernel; t++) {
    const v = new Float64Array(slots);
    for (let j = 0; j < blocks; j++) {
      const k = t * blocks + j;
      if (k >= kernel) break;
      for (let c = 0; c < conv.outChannels; c++)
        v.fill(conv.kernelWeight[c * kernel + k], j * layer.blockSize + c * windows, j * layer.blockSize + (c + 1) * windows);
    }
    plains.push(v);
  }
  return plains;
}

/** The baby-step/giant-step diagonals: plains[g][b][j] = W[t mod m', (t + g·B + b) mod Q] at t = j − g·B (mod Q). */
function diagonalPlains(stage: FoldedAffine, layer: DiagonalLayer): (Float64Array | undefined)[][] {
  const { period: q, diagonals: m, baby, giant } = layer;
  const { inputs: n, outputs, weight } = stage;
  return Array.from({ length: giant }, (_, g) =>
    Array.from({ length: baby }, (_, b) => {
      const d = g * baby + b;
      const v = new Float64Array(q);
      let any = false;
      for (let j = 0; j < q; j++) {
        const t = (((j - g * baby) % q) + q) % q;
        const row = t % m;
        const col = (t + d) % q;
        if (row < outputs && col < n) {
          v[j] = weight[row * n + col];
          if (v[j] !== 0) any = true;
        }
      }
      return any ? v : undefined;
    }),
  );
}
