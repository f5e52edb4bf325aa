/**
 * `aegis inspect-data`: looks for poison in a labelled training set, and turns the verdict
 * into findings. Activation clustering and spectral signatures read a model trained on it
 * (its learned representation, the penultimate layer, is what separates poisoned rows from
 * clean ones); influence reads that model's outputs and last-layer gradients; RONI trains
 * its own small learners on the rows and needs no model. Given the truth (a poison
 * manifest's row flags) it also scores the inspection: precision, recall, false-positive
 * rate, ROC AUC and recall at 5% false positives.
 */
import type { OnnxClassifier } from "../../engine/classifier.js";
import { createFeatureExtractor } from "../../engine/features.js";
import { softmaxRows } from "../../engine/probabilities.js";
import { AegisError } from "../../errors.js";
import type { Finding } from "../../report/finding.js";
import { references } from "../../report/taxonomy.js";
import type { Tensor } from "../../tensor.js";
import { AEGIS_VERSION } from "../../version.js";
import { activationClustering } from "./activation-clustering.js";
import { type InspectionScore, scoreInspection } from "./evaluate.js";
import { influence } from "./influence.js";
import { roni } from "./roni.js";
import { spectralSignatures } from "./spectral-signatures.js";
import type { ClassVerdict, DataInspection } from "./types.js";

export const DATA_INSPECTIONS = ["activation-clustering", "spectral-signatures", "influence", "roni"] as const;
export type DataInspectionName = (typeof DATA_INSPECTIONS)[number];

export interface InspectDataOptions {
  defence: DataInspectionName;
  /** Activation clustering: "superimposition" (default) or the paper's "size" rule. */
  analysis?: "superimposition" | "size";
  /** Spectral signatures: upper bound on the poisoned share of a class; RONI, influence: of the rows. */
  epsilon?: number;
  /** RONI: rows known to be clean, the quiz set whose loss a row must not raise. */
  trusted?: { x: Tensor<"float32">; labels: readonly number[] };
  /** The truth, one flag per row (from a poison manifest): adds the inspection's score. */
  poisoned?: readonly boolean[];
  seed?: number;
}

export interface DataInspectionReport {
  aegis: string;
  model: string;
  data: string;
  defence: DataInspectionName;
  paper: string;
  params: Record<string, unknown>;
  rows: number;
  flagged: number;
  /** The flagged rows, most suspicious first. */
  suspected: { row: number; label: number; score: number }[];
  classes: ClassVerdict[];
  /** Against the manifest, when one was given. */
  truth?: InspectionScore;
  findings: Finding[];
}

/**
 * Inspects rows x with labels through `model` (trained on them; RONI needs none);
 * `modelName`/`data.name` name them in the report.
 */
export async function inspectData(
  model: OnnxClassifier | undefined,
  data: { x: Tensor<"float32">; labels: readonly number[]; name: string },
  modelName: string,
  options: InspectDataOptions,
): Promise<DataInspectionReport> {
  if (!DATA_INSPECTIONS.includes(options.defence))
    throw new AegisError("BAD_OPTION", `--defence must be one of ${DATA_INSPECTIONS.join(", ")}, not "${options.defence}"`);
  const n = data.x.shape[0];
  if (options.poisoned && options.poisoned.length !== n)
    throw new AegisError(
      "SHAPE_MISMATCH",
      `the manifest describes ${options.poisoned.length} rows but the data has ${n}; give the poisoned file it was written with`,
    );
  const inspection = await inspect(model, data, options);
  const suspected = Array.from({ length: n }, (_, row) => row)
    .filter((r) => inspection.flagged[r])
    .sort((a, b) => inspection.scores[b] - inspection.scores[a])
    .map((row) => ({ row, label: data.labels[row], score: inspection.scores[row] }));
  return {
    aegis: AEGIS_VERSION,
    model: modelName,
    data: data.name,
    defence: options.defence,
    paper: inspection.paper,
    params: inspection.params,
    rows: n,
    flagged: suspected.length,
    suspected,
    classes: inspection.classes,
    truth: options.poisoned ? scoreInspection(inspection, options.poisoned) : undefined,
    findings: inspectionFindings(inspection, data.name, options.defence),
  };
}

async function inspect(
  model: OnnxClassifier | undefined,
  data: { x: Tensor<"float32">; labels: readonly number[] },
  options: InspectDataOptions,
): Promise<DataInspection> {
  if (options.defence === "roni") {
    const numClasses = model?.numClasses ?? [...data.labels, ...(options.trusted?.labels ?? [])].reduce((a, y) => Math.max(a, y + 1), 0);
    return roni(data.x, data.labels, numClasses, { trusted: options.trusted, epsilon: options.epsilon, seed: options.seed });
  }
  if (!model) throw new AegisError("BAD_OPTION", `--defence ${options.defence} needs --model, a model trained on the data (only roni trains its own)`);
  const k = model.numClasses;
  if (options.defence === "influence") {
    const outputs = await model.predict(data.x);
    return influence(model.outputKind === "logits" ? softmaxRows(outputs) : outputs, data.labels, k, { epsilon: options.epsilon });
  }
  const extractor = await createFeatureExtractor(model.exportModel(), model.runtimeOptions);
  try {
    const { features } = await extractor.extract(data.x);
    return options.defence === "spectral-signatures"
      ? spectralSignatures(features, data.labels, k, { epsilon: options.epsilon })
      : await activationClustering(features, data.labels, k, { analysis: options.analysis, superimposition: { model, x: data.x }, seed: options.seed });
  } finally {
    await extractor.release();
  }
}

/** Why the flagged rows of a class look poisoned, by the kind of evidence the defence weighs. */
const EVIDENCE: Record<DataInspectionName, string> = {
  "activation-clustering": "the model trained on this data represents them apart from the rest of the class",
  "spectral-signatures": "the model trained on this data represents them apart from the rest of the class",
  influence: "the model trained on this data still argues against their labels (they have the highest self-influence)",
  roni: "adding any of them to a small training set makes the learner worse on the quiz rows (a negative impact)",
};

/** One finding per class that looks poisoned. */
function inspectionFindings(inspection: DataInspection, dataName: string, defence: DataInspectionName): Finding[] {
  return inspection.classes
    .filter((c) => c.suspicious)
    .map((c) => ({
      rule: "AEGIS-POISON-SUSPECTED-CLASS",
      capability: "poisoning" as const,
      severity: "high" as const,
      title: `Class ${c.class} of ${dataName} looks poisoned (${c.flagged} of ${c.rows} rows flagged by ${defence})`,
      detail:
        `${c.flagged} of the ${c.rows} rows labelled ${c.class} stand out: ${EVIDENCE[defence]}. ` +
        "That is the signature of a backdoor's or a poisoning attack's rows (their label comes from the attacker, their features from a trigger or another class).",
      evidence: { rows: c.rows, flagged: c.flagged, ...c.evidence },
      location: { file: dataName, symbol: `class ${c.class}` },
      references: references(["AML.T0020", "AML.M0007", "ML02", "poisoning"]),
      recommendation: `Review the flagged rows (\`aegis inspect-data --json\` lists them), remove them and retrain with \`aegis train --data\` on the cleaned set.`,
    }));
}
