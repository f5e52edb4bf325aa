/**
 * Retraining without the flagged rows — the repair Chen et al. 2018 (activation clustering,
 * §4) and Tran, Li & Madry 2018 (spectral signatures) pair with their inspections: the rows
 * a data inspection flags are removed and the model's architecture is trained from scratch
 * (fresh weights, engine/reinitialise.ts) on the rest. A backdoor the poisoned rows taught
 * is gone if the inspection found enough of them; the rows it missed teach it again, which is
 * why the result is measured, not assumed.
 */
import { type PoisonManifest, poisonedFlags } from "../../attacks/index.js";
import { OnnxClassifier, type OnnxClassifierOptions } from "../../engine/classifier.js";
import { adam } from "../../engine/optimizers.js";
import { reinitialise } from "../../engine/reinitialise.js";
import { type EpochStats, train } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { gatherRows } from "../../tensor.js";
import { withDefaults } from "../settings.js";
import { type LabelledData, measureRepair, type RepairMeasure } from "./repair.js";

export const RETRAIN_PAPER = "Chen et al. 2018 (§4) and Tran, Li & Madry 2018: remove the flagged rows, retrain from scratch";

export interface RetrainOptions {
  /** Epochs of training from scratch (aegis train's default, 5). */
  epochs?: number;
  learningRate?: number;
  batchSize?: number;
  /** Seeds the fresh weights and the shuffling. */
  seed?: number;
  /** Held-out labelled data the before and after numbers are measured on. */
  test: LabelledData;
  /** The poison manifest of the training data (evaluation only): attack success, and how many poisoned rows the removal missed. */
  manifest?: PoisonManifest;
  runtime?: Omit<OnnxClassifierOptions, "trainable" | "batchSize">;
  onEpoch?: (stats: EpochStats) => void;
  signal?: AbortSignal;
}

export const RETRAIN_DEFAULTS = { epochs: 5, learningRate: 1e-3, batchSize: 64, seed: 0 };

export interface RetrainResult {
  method: "retrain";
  paper: string;
  test_samples: number;
  before: RepairMeasure;
  after: RepairMeasure;
  retrain: {
    rows: number;
    removed: number;
    epochs: number;
    /** With a manifest: poisoned rows removed, and left in the training set. */
    poisoned_removed?: number;
    poisoned_left?: number;
  };
}

/**
 * Trains `backdoored`'s architecture afresh on `data` without the `flagged` rows (one flag a
 * row). Returns the new classifier (the caller releases it) and the numbers before and after.
 */
export async function retrainWithout(
  backdoored: OnnxClassifier,
  data: LabelledData,
  flagged: readonly boolean[],
  options: RetrainOptions,
): Promise<{ model: OnnxClassifier; result: RetrainResult }> {
  const o = withDefaults(RETRAIN_DEFAULTS, options);
  const rows = data.x.shape[0];
  if (flagged.length !== rows)
    throw new AegisError("SHAPE_MISMATCH", `the inspection covers ${flagged.length} rows but the data has ${rows}; give the data the inspection ran on`);
  const kept = flagged.flatMap((f, i) => (f ? [] : [i]));
  if (kept.length === 0) throw new AegisError("BAD_DATA", "the inspection flagged every row; there is nothing left to retrain on");
  const poisoned = options.manifest ? poisonedFlags(options.manifest, rows) : undefined;
  const before = await measureRepair(backdoored, options.test, options.manifest);
  const { model: fresh } = reinitialise(backdoored.exportModel(), o.seed);
  const model = await OnnxClassifier.create(fresh, { ...options.runtime, trainable: true, batchSize: o.batchSize });
  try {
    await train(
      model,
      { x: gatherRows(data.x, kept), labels: kept.map((i) => data.labels[i]) },
      {
        epochs: o.epochs,
        batchSize: o.batchSize,
        optimizer: adam({ lr: o.learningRate }),
        seed: o.seed,
        onEpoch: options.onEpoch,
        signal: options.signal,
      },
    );
    const removedPoison = poisoned ? poisoned.filter((p, i) => p && flagged[i]).length : undefined;
    const totalPoison = poisoned?.filter(Boolean).length;
    return {
      model,
      result: {
        method: "retrain",
        paper: RETRAIN_PAPER,
        test_samples: options.test.x.shape[0],
        before,
        after: await measureRepair(model, options.test, options.manifest),
        retrain: {
          rows,
          removed: rows - kept.length,
          epochs: o.epochs,
          poisoned_removed: removedPoison,
          poisoned_left: totalPoison === undefined || removedPoison === undefined ? undefined : totalPoison - removedPoison,
        },
      },
    };
  } catch (e) {
    await model.release();
    throw e;
  }
}
