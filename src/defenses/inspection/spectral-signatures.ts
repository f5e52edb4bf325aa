/**
 * Spectral signatures — Tran, Li & Madry, "Spectral Signatures in Backdoor Attacks",
 * NeurIPS 2018. Within a class, poisoned rows leave a trace along the top singular vector
 * of the centred learned representations: each row's score is its squared projection on
 * that vector, and the 1.5·ε·n highest-scoring rows of every class are removed, ε being an
 * upper bound on the poisoned share of a class (the paper's 1.5 leaves room for error).
 * Defaults: ε = 0.1 (the paper's experiments use 5% and 10%). As the paper, every class is
 * trimmed, so clean classes lose 1.5·ε of their rows too; a class is reported as suspicious
 * when its top singular value is an outlier among the classes' (anomaly index > 2).
 * The signature assumes the poison is a minority of its class: the centred representation's
 * top direction then points at it. When half a class is poison (10% of the whole set sent
 * to one class), the mean lies between the two groups and both score alike.
 */

import { centred, principalComponents } from "../../linalg.js";
import type { Tensor } from "../../tensor.js";
import { lowAnomalyIndices } from "./anomaly.js";
import { type DataInspection, rowsByClass } from "./types.js";

export interface SpectralSignaturesOptions {
  /** Upper bound on the poisoned share of a class (default 0.1). */
  epsilon?: number;
}

export const SPECTRAL_SIGNATURES_DEFAULTS = { epsilon: 0.1 } as const;

export function spectralSignatures(
  representations: Tensor<"float32">,
  labels: readonly number[],
  numClasses: number,
  options: SpectralSignaturesOptions = {},
): DataInspection {
  const epsilon = options.epsilon ?? SPECTRAL_SIGNATURES_DEFAULTS.epsilon;
  const [n, d] = representations.shape;
  const scores = new Float64Array(n);
  const flagged = new Array<boolean>(n).fill(false);
  const byClass = rowsByClass(labels, numClasses);
  const topVariance: number[] = [];
  for (const rows of byClass) {
    if (rows.length < 2) {
      topVariance.push(0);
      continue;
    }
    const x = new Float64Array(rows.length * d);
    for (const [i, r] of rows.entries()) x.set(representations.data.subarray(r * d, (r + 1) * d), i * d);
    const c = centred(x, rows.length, d);
    const { projections, variances } = principalComponents(c, rows.length, d, 1);
    let trace = 0;
    for (const v of c) trace += v * v;
    topVariance.push(trace > 0 ? (variances[0] * (rows.length - 1)) / trace : 0);
    rows.forEach((r, i) => {
      scores[r] = projections[i] ** 2;
    });
    const removed = Math.min(rows.length, Math.floor(1.5 * epsilon * rows.length));
    for (const r of [...rows].sort((a, b) => scores[b] - scores[a]).slice(0, removed)) flagged[r] = true;
  }
  // Suspicion: the share of variance along the top direction, an outlier on the high side.
  const anomaly = lowAnomalyIndices(topVariance.map((v) => -v));
  const classes = byClass.map((rows, cls) => ({
    class: cls,
    rows: rows.length,
    suspicious: anomaly[cls] > 2,
    flagged: rows.filter((r) => flagged[r]).length,
    evidence: { top_variance_share: topVariance[cls], anomaly_index: anomaly[cls] },
  }));
  return {
    defence: "spectral-signatures",
    paper: "Tran, Li & Madry 2018, Spectral Signatures in Backdoor Attacks",
    params: { epsilon },
    rows: n,
    scores,
    flagged,
    classes,
  };
}
