/**
 * What a data inspection reports (the defences that look for poison in a training set
 * before training: activation clustering, spectral signatures, influence): a suspicion
 * score and a verdict per row, and per class whether it looks poisoned. `evaluate.ts`
 * compares them with a poison manifest when one is known.
 */

export interface ClassVerdict {
  class: number;
  rows: number;
  /** Whether the class looks poisoned. */
  suspicious: boolean;
  /** Rows of the class flagged. */
  flagged: number;
  /** The numbers the verdict rests on (cluster sizes, silhouette, anomaly index…). */
  evidence: Record<string, number>;
}

export interface DataInspection {
  defence: string;
  paper: string;
  params: Record<string, unknown>;
  rows: number;
  /** Per row, higher = more suspicious (comparable within one inspection only). */
  scores: Float64Array;
  /** Per row: flagged as poison. */
  flagged: boolean[];
  classes: ClassVerdict[];
}

/** The row indices of each class, for labels 0..numClasses−1. */
export function rowsByClass(labels: readonly number[], numClasses: number): number[][] {
  const rows: number[][] = Array.from({ length: numClasses }, () => []);
  for (const [i, y] of labels.entries()) rows[y]?.push(i);
  return rows;
}
