/**
 * A small audit the report tests share: FGSM and PGD curves on the bundled CNN, DeepFool
 * (the registry's fastest minimum-norm attack), and a minimum-norm attack defined here
 * (a bisection along the L2-normalised loss gradient) whose query count and sizes the
 * tests know exactly.
 */
import { attackByName } from "../../src/attacks/index.js";
import type { Attack, Capability, CommonParams } from "../../src/attacks/types.js";
import type { AttackLookup, AuditConfig } from "../../src/audit/config.js";
import type { Policy } from "../../src/audit/policy.js";
import { type AuditResult, runAudit } from "../../src/audit/suite.js";
import { loadMnist } from "../../src/data/index.js";
import type { LossGradient, ModelInfo, Predictor } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { summarizeModel } from "../../src/engine/inspect.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { loadModel } from "../../src/onnx/io.js";
import { float32, sizeOf } from "../../src/tensor.js";

export const DEMO = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;

interface LineSearchParams extends CommonParams {
  steps: number;
  maxNorm: number;
}

/** Smallest t with argmax(x + t·g/‖g‖) ≠ y, by bisection on [0, maxNorm]; one batched prediction per step. */
export const lineSearch: Attack<LineSearchParams, Predictor & LossGradient & ModelInfo> = {
  name: "line-search",
  title: "Gradient line search",
  paper: "test double: bisection along the L2-normalised loss gradient",
  needs: ["predict", "lossGradient"],
  norms: ["2"],
  defaults: { eps: 0, norm: "2", targeted: false, steps: 12, maxNorm: 8 },
  help: { eps: "unused", norm: "2", targeted: "unsupported", steps: "bisection steps", maxNorm: "largest L2 norm tried" },
  async run(model, x, y, p, ctx) {
    const n = x.shape[0];
    const row = sizeOf(x.shape.slice(1));
    const g = await model.lossGradient(x, y);
    const [lo, hi] = model.clipRange;
    const dir = new Float32Array(g.data.length);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = i * row; k < (i + 1) * row; k++) s += g.data[k] * g.data[k];
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      for (let k = i * row; k < (i + 1) * row; k++) dir[k] = g.data[k] * inv;
    }
    const at = (t: Float64Array) => {
      const out = new Float32Array(x.data.length);
      for (let i = 0; i < n; i++) for (let k = i * row; k < (i + 1) * row; k++) out[k] = Math.min(hi, Math.max(lo, x.data[k] + t[i] * dir[k]));
      return float32(x.shape, out);
    };
    const low = new Float64Array(n);
    const high = new Float64Array(n).fill(p.maxNorm);
    const queries = new Int32Array(n);
    const fooled = async (t: Float64Array) => {
      const out = await model.predict(at(t));
      queries.forEach((_, i) => {
        queries[i]++;
      });
      return Array.from({ length: n }, (_, i) => argmaxRow(out, i) !== y[i]);
    };
    const reachable = await fooled(high);
    for (let step = 0; step < p.steps && !ctx.signal?.aborted; step++) {
      const mid = low.map((l, i) => (l + high[i]) / 2);
      const ok = await fooled(mid);
      for (let i = 0; i < n; i++)
        if (ok[i]) high[i] = mid[i];
        else low[i] = mid[i];
      ctx.onProgress?.(Math.round(((step + 1) / p.steps) * n), n);
    }
    return { x: at(high.map((h, i) => (reachable[i] ? h : 0))), queries };
  },
};

// biome-ignore lint/suspicious/noExplicitAny: the test double joins the registry's attacks of any model type
export const lookup = (name: string) => (name === lineSearch.name ? (lineSearch as Attack<any, any>) : attackByName(name));

export const smallConfig = (samples = 100): AuditConfig => ({
  source: "test",
  seed: 0,
  samples,
  batchSize: 128,
  lenientParams: false,
  attacks: [
    { id: "fgsm", attack: "fgsm", kind: "curve", eps: [0.1, 0.2, 0.3] },
    { id: "pgd", attack: "pgd", kind: "curve", eps: [0.1, 0.3], params: { epsStep: 0.01 } },
    { id: "line-search", attack: "line-search", kind: "minimum-norm", samples: 64 },
    { id: "deepfool", attack: "deepfool", kind: "minimum-norm", samples: 32 },
  ],
});

export interface SmallAuditOptions {
  samples?: number;
  /** Instead of smallConfig(samples). */
  config?: AuditConfig;
  /** Audit the CNN through predictions only, as a black-box endpoint would give it. */
  predictOnly?: boolean;
  policy?: Policy;
  signal?: AbortSignal;
  log?: (m: string) => void;
  /** Instead of the registry with the line search. */
  lookup?: AttackLookup;
}

export async function smallAudit(options: SmallAuditOptions = {}): Promise<AuditResult> {
  const classifier = await OnnxClassifier.fromFile(DEMO);
  // A plain object, so no attack can reach the classifier's gradients through it.
  const predictor: Predictor = {
    inputShape: classifier.inputShape,
    numClasses: classifier.numClasses,
    clipRange: classifier.clipRange,
    outputKind: classifier.outputKind,
    predict: (x) => classifier.predict(x),
  };
  const caps: Capability[] = options.predictOnly ? ["predict"] : ["predict", "lossGradient", "classGradient"];
  try {
    const { test } = loadMnist();
    return await runAudit({
      model: options.predictOnly ? predictor : classifier,
      capabilities: new Set(caps),
      modelPath: DEMO,
      summary: options.predictOnly ? null : await summarizeModel(loadModel(DEMO)),
      data: { ...test, name: "mnist-test" },
      config: options.config ?? smallConfig(options.samples),
      policy: options.policy,
      signal: options.signal,
      log: options.log,
      lookup: options.lookup ?? lookup,
    });
  } finally {
    await classifier.release();
  }
}
