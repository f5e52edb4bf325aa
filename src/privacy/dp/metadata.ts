/**
 * A DP-trained model carries its guarantee in its ONNX metadata_props, one `aegis.dp.*`
 * key per field, so `aegis inspect`, the ML-BOM (as aegis:dp:* properties) and anyone with
 * an ONNX reader can see what was promised and under which accounting.
 */
import type { Model } from "../../onnx/ir.js";
import type { AccountantName } from "./accountant.js";
import type { DpSgdPlan } from "./dp-sgd.js";

export interface DpRecord {
  mechanism: "dp-sgd";
  epsilon: number;
  delta: number;
  noiseMultiplier: number;
  maxGradNorm: number;
  samplingRate: number;
  steps: number;
  accountant: AccountantName;
  /** The noise came from --noise-seed: reproducible, so the guarantee does not hold against whoever has the seed. */
  noiseSeeded: boolean;
}

const PREFIX = "aegis.dp.";

/** Metadata key per field (snake case, as ONNX metadata is usually written). */
const KEYS: Record<keyof DpRecord, string> = {
  mechanism: "mechanism",
  epsilon: "epsilon",
  delta: "delta",
  noiseMultiplier: "noise_multiplier",
  maxGradNorm: "max_grad_norm",
  samplingRate: "sampling_rate",
  steps: "steps",
  accountant: "accountant",
  noiseSeeded: "noise_seeded",
};

export function dpRecord(plan: DpSgdPlan, epsilon = plan.epsilon): DpRecord {
  return {
    mechanism: "dp-sgd",
    epsilon,
    delta: plan.delta,
    noiseMultiplier: plan.noiseMultiplier,
    maxGradNorm: plan.maxGradNorm,
    samplingRate: plan.samplingRate,
    steps: plan.steps,
    accountant: plan.accountant,
    noiseSeeded: plan.noiseSeeded,
  };
}

/** The model with its DP record in metadata_props (any earlier record replaced). */
export function withDpMetadata(model: Model, record: DpRecord): Model {
  const kept = model.metadata.filter((m) => !m.key.startsWith(PREFIX));
  const added = (Object.keys(KEYS) as (keyof DpRecord)[]).map((field) => ({ key: PREFIX + KEYS[field], value: String(record[field]) }));
  return { ...model, metadata: [...kept, ...added] };
}

/** The DP record of a model, or undefined when it has none (or an incomplete one). */
export function readDpMetadata(model: Model): DpRecord | undefined {
  const meta = new Map(model.metadata.map((m) => [m.key, m.value]));
  const get = (field: keyof DpRecord) => meta.get(PREFIX + KEYS[field]);
  const numbers = ["epsilon", "delta", "noiseMultiplier", "maxGradNorm", "samplingRate", "steps"] as const;
  if (get("mechanism") !== "dp-sgd" || numbers.some((f) => get(f) === undefined)) return undefined;
  const value = (f: (typeof numbers)[number]) => Number(get(f));
  return {
    mechanism: "dp-sgd",
    epsilon: value("epsilon"),
    delta: value("delta"),
    noiseMultiplier: value("noiseMultiplier"),
    maxGradNorm: value("maxGradNorm"),
    samplingRate: value("samplingRate"),
    steps: value("steps"),
    accountant: (get("accountant") ?? "rdp") as AccountantName,
    noiseSeeded: get("noiseSeeded") === "true",
  };
}

/** One line for people: "(ε = 1.00, δ = 1e-5)-DP by DP-SGD · σ 1.1 · C 1 · q 0.0043 · 14,063 steps · rdp accountant". */
export function describeDp(r: DpRecord): string {
  return `(ε = ${r.epsilon.toFixed(2)}, δ = ${r.delta})-DP by DP-SGD · σ ${r.noiseMultiplier} · C ${r.maxGradNorm} · q ${Number(r.samplingRate.toPrecision(3))} · ${r.steps.toLocaleString("en-US")} steps · ${r.accountant} accountant${r.noiseSeeded ? " · SEEDED NOISE (tests only: no guarantee against whoever has the seed)" : ""}`;
}
