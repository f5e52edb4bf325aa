/**
 * `aegis inspect-data`: looks for poison in a labelled training set with a model trained on
 * it — the learned representation (the model's penultimate layer) is what separates
 * poisoned rows from clean ones — by activation clustering or spectral signatures, and
 * turns the verdict into findings. Given the truth (a poison manifest's row flags) it also
 * scores the inspection: precision, recall, false-positive rate and ROC AUC.
 */
import type { OnnxClassifier } from "../../engine/classifier.js";
import { createFeatureExtractor } from "../../engine/features.js";
import { AegisError } from "../../errors.js";
import type { Finding } from "../../report/finding.js";
import { references } from "../../report/taxonomy.js";
import { AEGIS_VERSION } from "../../version.js";
import { activationClustering } from "./activation-clustering.js";
import { type InspectionScore, scoreInspection } from "./evaluate.js";
import { spectralSignatures } from "./spectral-signatures.js";
import type { ClassVerdict, DataInspection } from "./types.js";

export const DATA_INSPECTIONS = ["activation-clustering", "spectral-signatures"] as const;
export type DataInspectionName = (typeof DATA_INSPECTIONS)[number];

export interface InspectDataOptions {
  defence: DataInspectionName;
  /** Activation clustering: "superimposition" (default) or the paper's "size" rule. */
  analysis?: "superimposition" | "size";
  /** Spectral signatures: upper bound on the poisoned share of a class. */
  epsilon?: number;
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

/** Inspects rows x with labels through `model` (trained on them); `modelName`/`dataName` name them in the report. */
export async function inspectData(
  model: OnnxClassifier,
  data: { x: Parameters<OnnxClassifier["predict"]>[0]; labels: readonly number[]; name: string },
  modelName: string,
  options: InspectDataOptions,
): Promise<DataInspectionReport> {
  if (!DATA_INSPECTIONS.includes(options.defence))
    throw new AegisError("BAD_OPTION", `--defence must be ${DATA_INSPECTIONS.join(" or ")}, not "${options.defence}"`);
  const n = data.x.shape[0];
  if (options.poisoned && options.poisoned.length !== n)
    throw new AegisError(
      "SHAPE_MISMATCH",
      `the manifest describes ${options.poisoned.length} rows but the data has ${n}; give the poisoned file it was written with`,
    );
  const extractor = await createFeatureExtractor(model.exportModel());
  let features: Awaited<ReturnType<typeof extractor.extract>>["features"];
  try {
    features = (await extractor.extract(data.x)).features;
  } finally {
    await extractor.release();
  }
  const k = model.numClasses;
  const inspection: DataInspection =
    options.defence === "spectral-signatures"
      ? spectralSignatures(features, data.labels, k, { epsilon: options.epsilon })
      : await activationClustering(features, data.labels, k, {
          analysis: options.analysis,
          superimposition: { model, x: data.x },
          seed: options.seed,
        });
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
        `The model trained on this data represents ${c.flagged} of the ${c.rows} rows labelled ${c.class} apart from the rest of the class, ` +
        "the signature of a backdoor's or a poisoning attack's rows (their label comes from the attacker, their features from a trigger or another class).",
      evidence: { rows: c.rows, flagged: c.flagged, ...c.evidence },
      location: { file: dataName, symbol: `class ${c.class}` },
      references: references(["AML.T0020", "AML.M0007", "ML02", "poisoning"]),
      recommendation: `Review the flagged rows (\`aegis inspect-data --json\` lists them), remove them and retrain with \`aegis train --data\` on the cleaned set.`,
    }));
}
