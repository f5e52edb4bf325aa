/**
 * A data inspection judged against the truth (a poison manifest): precision and recall of
 * the flagged rows, the false-positive rate on clean rows, and two measures of the scores
 * that do not depend on where the defence drew its line: the ROC AUC, and the recall when
 * the line is drawn to flag 5% of the clean rows.
 */
import { auroc, flaggedFraction, thresholdAtFpr } from "../detectors/threshold.js";
import type { DataInspection } from "./types.js";

export interface InspectionScore {
  poisoned: number;
  flagged: number;
  true_positives: number;
  precision: number;
  /** Share of the poisoned rows flagged. */
  recall: number;
  /** Share of the clean rows flagged. */
  false_positive_rate: number;
  roc_auc: number;
  /** Share of the poisoned rows above the score that flags 5% of the clean rows. */
  recall_at_5_fpr: number;
}

export function scoreInspection(inspection: DataInspection, poisoned: readonly boolean[]): InspectionScore {
  const n = inspection.rows;
  let tp = 0;
  let fp = 0;
  let positives = 0;
  const clean: number[] = [];
  const poison: number[] = [];
  for (let i = 0; i < n; i++) {
    if (poisoned[i]) {
      positives++;
      poison.push(inspection.scores[i]);
      if (inspection.flagged[i]) tp++;
    } else {
      clean.push(inspection.scores[i]);
      if (inspection.flagged[i]) fp++;
    }
  }
  const flagged = tp + fp;
  return {
    poisoned: positives,
    flagged,
    true_positives: tp,
    precision: flagged > 0 ? tp / flagged : 0,
    recall: positives > 0 ? tp / positives : 0,
    false_positive_rate: clean.length > 0 ? fp / clean.length : 0,
    roc_auc: auroc(clean, poison),
    recall_at_5_fpr: clean.length > 0 ? flaggedFraction(poison, thresholdAtFpr(clean, 0.05)) : 0,
  };
}
