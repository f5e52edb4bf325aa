/**
 * `aegis inspect-model`: looks for a backdoor in a trained model with a small clean set and
 * no poisoned data — Neural Cleanse reverses a trigger per class, and a class whose trigger
 * is far smaller than the others' is reported as backdoored, as a finding. The reversed
 * triggers are kept in the report (mask and pattern), so a repair can unlearn them
 * (`aegis repair unlearning --inspection report.json`) and a reader can see them.
 */
import type { LossGradient, Predictor } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import type { Finding } from "../../report/finding.js";
import { references } from "../../report/taxonomy.js";
import type { Tensor } from "../../tensor.js";
import { AEGIS_VERSION } from "../../version.js";
import { median } from "./anomaly.js";
import { type NeuralCleanseOptions, neuralCleanse } from "./neural-cleanse.js";

export const MODEL_INSPECTIONS = ["neural-cleanse"] as const;
export type ModelInspectionName = (typeof MODEL_INSPECTIONS)[number];

export interface ClassTrigger {
  class: number;
  /** ‖m‖₁ of the reversed mask (null when no trigger reached the success threshold). */
  l1: number | null;
  anomaly_index: number;
  attack_success_rate: number;
  flagged: boolean;
  epochs: number;
  /** The reversed trigger, in the form `aegis poison --trigger mask` and the repairs take. */
  mask: number[];
  pattern: number[];
}

export interface ModelInspectionReport {
  format: "aegis-model-inspection";
  aegis: string;
  model: string;
  data: string;
  defence: ModelInspectionName;
  paper: string;
  params: Record<string, number>;
  /** The sample shape the triggers are for. */
  sample_shape: number[];
  /** The model's input range, which the patterns lie in. */
  clip_range: [number, number];
  height: number;
  width: number;
  /** Classes reported as backdoored. */
  flagged: number[];
  classes: ClassTrigger[];
  findings: Finding[];
}

const round = (v: number) => Math.round(v * 1e4) / 1e4;

/** Inspects `model` with clean inputs x; `modelName`/`dataName` name them in the report. */
export async function inspectModel(
  model: Predictor & LossGradient,
  data: { x: Tensor<"float32">; name: string },
  modelName: string,
  options: NeuralCleanseOptions & { defence?: ModelInspectionName } = {},
): Promise<ModelInspectionReport> {
  const defence = options.defence ?? "neural-cleanse";
  if (!MODEL_INSPECTIONS.includes(defence)) throw new AegisError("BAD_OPTION", `--defence must be ${MODEL_INSPECTIONS.join(" or ")}, not "${defence}"`);
  const result = await neuralCleanse(model, data.x, options);
  const classes = result.triggers.map((t) => ({
    class: t.class,
    l1: Number.isFinite(t.l1) ? round(t.l1) : null,
    anomaly_index: round(t.anomaly_index),
    attack_success_rate: t.attack_success_rate,
    flagged: t.flagged,
    epochs: t.epochs,
    mask: Array.from(t.mask, round),
    pattern: Array.from(t.pattern, round),
  }));
  const medianL1 = median(classes.map((c) => c.l1 ?? result.height * result.width));
  return {
    format: "aegis-model-inspection",
    aegis: AEGIS_VERSION,
    model: modelName,
    data: data.name,
    defence,
    paper: result.paper,
    params: result.params,
    sample_shape: data.x.shape.slice(1),
    clip_range: [model.clipRange[0], model.clipRange[1]],
    height: result.height,
    width: result.width,
    flagged: result.flagged,
    classes,
    findings: classes.filter((c) => c.flagged).map((c) => backdoorFinding(c, modelName, medianL1, result.params.anomalyThreshold)),
  };
}

function backdoorFinding(c: ClassTrigger, modelName: string, medianL1: number, threshold: number): Finding {
  return {
    rule: "AEGIS-BACKDOOR-SUSPECTED-CLASS",
    capability: "poisoning",
    severity: "critical",
    title: `Class ${c.class} of ${modelName} looks backdoored (Neural Cleanse anomaly index ${c.anomaly_index.toFixed(2)} > ${threshold.toFixed(2)})`,
    detail:
      `A trigger of ${c.l1?.toFixed(1)} pixels' worth of mask sends ${(c.attack_success_rate * 100).toFixed(1)}% of clean inputs to class ${c.class}, ` +
      `while the median class needs ${medianL1.toFixed(1)}: a shortcut that small is what a planted backdoor leaves, ` +
      "so inputs stamped with the attacker's trigger are likely to be classified as this class.",
    evidence: { l1: c.l1 ?? medianL1, median_l1: medianL1, anomaly_index: c.anomaly_index, attack_success_rate: c.attack_success_rate },
    location: { file: modelName, symbol: `class ${c.class}` },
    references: references(["AML.T0018.000", "AML.M0008", "ML10", "poisoning"]),
    recommendation:
      "Do not deploy the model as it is: retrain it on inspected data (`aegis inspect-data`), or repair it with `aegis repair unlearning --inspection` on this report (or `aegis repair fine-pruning`) and inspect it again.",
  };
}

/** The reversed triggers of the flagged classes of a saved report, checked against the samples they will be stamped on. */
export function flaggedTriggers(report: ModelInspectionReport, sampleShape: readonly number[]): { class: number; mask: number[]; pattern: number[] }[] {
  if (report.format !== "aegis-model-inspection" || !Array.isArray(report.classes))
    throw new AegisError("BAD_DATA", "the inspection file is not an `aegis inspect-model --format json` report");
  if (report.sample_shape.join(",") !== sampleShape.join(","))
    throw new AegisError(
      "SHAPE_MISMATCH",
      `the inspection's triggers are for samples of shape [${report.sample_shape.join(", ")}], the data's are [${sampleShape.join(", ")}]`,
    );
  return report.classes.filter((c) => c.flagged);
}
