/**
 * Activation clustering — Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy &
 * Srivastava, "Detecting Backdoor Attacks on Deep Neural Networks by Activation
 * Clustering", 2018. A model trained on the suspect data sees poisoned rows of a class
 * through the trigger, not through the features of the class, so within each class the
 * last hidden layer's activations fall into two groups. Per class: reduce the activations to
 * 10 dimensions, split them with 2-means, and decide which cluster (if any) is poison. The
 * paper's decision is the relative size (a cluster holding less than 35% of its class),
 * optionally confirmed by the silhouette score or by exclusionary reclassification.
 *
 * Deviations, each measured on BadNets at 10% of MNIST (bench/poisoning.ts):
 * - PCA rather than the paper's ICA (ART's notebook uses PCA too).
 * - The activations are square-rooted first: ReLU outputs are heavy-tailed, and a few large
 *   units otherwise set the principal components (2-means then caught 80% of the poison
 *   instead of 92%).
 * - The default decision is not the size: when 10% of the whole set is poisoned towards one
 *   class, half of that class is poison and the two clusters are the same size. Each
 *   cluster is tested instead by superimposition, as STRIP tests an input (Gao et al.
 *   2019): members mixed with random rows of the data keep the prediction a trigger forces
 *   on them, so a poison cluster's mean prediction entropy is an outlier, far below every
 *   other cluster's (anomaly index over all clusters, as Neural Cleanse's, above 3). This
 *   needs the model, and assumes a trigger that survives superimposition (patches, blends);
 *   `analysis: "size"` is the paper's rule.
 * - 2-means splits a poisoned class along the poison only roughly: on BadNets at 10% the
 *   flagged cluster held clean rows (5.3% false positives over the set) and the other
 *   cluster 4% of the poison, enough for a model retrained without the flagged rows to learn
 *   the backdoor again (56% attack success). So every row of a class with a flagged cluster
 *   is tested by superimposition itself, and flagged when its entropy is below the 5%
 *   quantile (`rowQuantile`) of the tested members of the classes with none.
 */
import { createRng } from "../../data/random.js";
import type { Predictor } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { centred, kMeans, principalComponents, silhouette } from "../../linalg.js";
import { gatherRows, type Tensor } from "../../tensor.js";
import { superimpositionEntropy } from "../detectors/strip.js";
import { lowAnomalyIndices } from "./anomaly.js";
import { type ClassVerdict, type DataInspection, rowsByClass } from "./types.js";

export interface ActivationClusteringOptions {
  /** Dimensions kept by PCA (default 10, the paper's). */
  dims?: number;
  /** "superimposition" (default) or "size" (the paper's relative-size rule). */
  analysis?: "superimposition" | "size";
  /** The size rule's cut-off (default 0.35, the paper's). */
  sizeThreshold?: number;
  /** The superimposition rule's cut-off on the clusters' anomaly index (default 3: stricter than Neural Cleanse's 2, as there are twice as many clusters as classes). */
  anomalyThreshold?: number;
  /** Superimposition: the model and the inspected inputs. */
  superimposition?: { model: Predictor; x: Tensor<"float32"> };
  /** Superimposition: members tested per cluster (default 64) and overlays each (default 32). */
  members?: number;
  overlays?: number;
  /** Superimposition: a row of a class with a flagged cluster is flagged when its entropy is below this quantile of the other classes' tested members (default 0.05; 1 flags the cluster's rows as they are). */
  rowQuantile?: number;
  seed?: number;
}

export const ACTIVATION_CLUSTERING_DEFAULTS = {
  dims: 10,
  analysis: "superimposition",
  sizeThreshold: 0.35,
  anomalyThreshold: 3,
  members: 64,
  overlays: 32,
  rowQuantile: 0.05,
} as const;

interface Cluster {
  cls: number;
  rows: number[];
  share: number;
  entropy?: number;
  /** The tested members' superimposition entropies. */
  tested?: Float64Array;
}

export const ACTIVATION_CLUSTERING_PAPER =
  "Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy & Srivastava 2018, Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering";

/** Inspects rows by their activations [N, D] (the last hidden layer of a model trained on them) and labels. */
export async function activationClustering(
  activations: Tensor<"float32">,
  labels: readonly number[],
  numClasses: number,
  options: ActivationClusteringOptions = {},
): Promise<DataInspection> {
  const o = { ...ACTIVATION_CLUSTERING_DEFAULTS, ...options };
  if (o.analysis === "superimposition" && !o.superimposition) throw new AegisError("BAD_OPTION", "the superimposition analysis needs the model and the inputs");
  const [n, d] = activations.shape;
  const rng = createRng(o.seed ?? 0);
  const clusters: Cluster[] = [];
  const silhouettes = new Map<number, number>();
  for (const [cls, rows] of rowsByClass(labels, numClasses).entries()) {
    if (rows.length < 4) {
      clusters.push({ cls, rows, share: 1 });
      continue;
    }
    const x = new Float64Array(rows.length * d);
    rows.forEach((r, i) => {
      for (let j = 0; j < d; j++) x[i * d + j] = Math.sqrt(Math.max(0, activations.data[r * d + j]));
    });
    const dims = Math.min(o.dims, d);
    const { projections } = principalComponents(centred(x, rows.length, d), rows.length, d, dims);
    const { assignment } = kMeans(projections, rows.length, dims, 2, rng);
    silhouettes.set(cls, silhouette(projections, rows.length, dims, assignment, 2));
    for (const c of [0, 1]) {
      const members = rows.filter((_, i) => assignment[i] === c);
      if (members.length > 0) clusters.push({ cls, rows: members, share: members.length / rows.length });
    }
  }
  const scores = new Float64Array(n);
  const flaggedCluster = new Set<Cluster>();
  let anomaly: Float64Array | undefined;
  let overlays: Tensor<"float32"> | undefined;
  if (o.analysis === "size") {
    for (const c of clusters) {
      for (const r of c.rows) scores[r] = 1 - c.share;
      if (c.share < o.sizeThreshold) flaggedCluster.add(c);
    }
  } else {
    const { model, x } = o.superimposition as NonNullable<typeof o.superimposition>;
    overlays = gatherRows(
      x,
      Array.from({ length: o.overlays }, () => rng.int(n)),
    );
    for (const c of clusters) {
      const step = Math.max(1, c.rows.length / o.members);
      const tested = Array.from({ length: Math.min(o.members, c.rows.length) }, (_, i) => c.rows[Math.floor(i * step)]);
      c.tested = await superimpositionEntropy(model, gatherRows(x, tested), overlays);
      c.entropy = c.tested.reduce((a, b) => a + b, 0) / c.tested.length;
    }
    anomaly = lowAnomalyIndices(clusters.map((c) => c.entropy as number));
    clusters.forEach((c, i) => {
      for (const r of c.rows) scores[r] = (anomaly as Float64Array)[i];
      if ((anomaly as Float64Array)[i] > o.anomalyThreshold) flaggedCluster.add(c);
    });
  }
  const flagged = new Array<boolean>(n).fill(false);
  for (const c of flaggedCluster) for (const r of c.rows) flagged[r] = true;
  const poisonedClasses = new Set([...flaggedCluster].map((c) => c.cls));
  const cleanTested = clusters.filter((c) => !poisonedClasses.has(c.cls)).flatMap((c) => Array.from(c.tested ?? []));
  if (overlays && o.rowQuantile < 1 && cleanTested.length > 0) {
    const { model, x } = o.superimposition as NonNullable<typeof o.superimposition>;
    const cutoff = quantile(cleanTested, o.rowQuantile);
    const byClass = rowsByClass(labels, numClasses);
    for (const cls of poisonedClasses) {
      const entropies = await superimpositionEntropy(model, gatherRows(x, byClass[cls]), overlays);
      byClass[cls].forEach((r, i) => {
        flagged[r] = entropies[i] < cutoff;
      });
    }
  }
  const classes: ClassVerdict[] = rowsByClass(labels, numClasses).map((rows, cls) => {
    const own = clusters.filter((c) => c.cls === cls);
    const evidence: Record<string, number> = { silhouette: silhouettes.get(cls) ?? 0 };
    own.forEach((c, i) => {
      evidence[`cluster${i}_share`] = c.share;
      if (c.entropy !== undefined) evidence[`cluster${i}_entropy`] = c.entropy;
      if (anomaly) evidence[`cluster${i}_anomaly_index`] = anomaly[clusters.indexOf(c)];
    });
    const flaggedRows = rows.filter((r) => flagged[r]).length;
    return { class: cls, rows: rows.length, suspicious: flaggedRows > 0, flagged: flaggedRows, evidence };
  });
  const params =
    o.analysis === "size"
      ? { dims: o.dims, analysis: o.analysis, sizeThreshold: o.sizeThreshold }
      : {
          dims: o.dims,
          analysis: o.analysis,
          anomalyThreshold: o.anomalyThreshold,
          members: o.members,
          overlays: o.overlays,
          rowQuantile: o.rowQuantile,
        };
  return { defence: "activation-clustering", paper: ACTIVATION_CLUSTERING_PAPER, params, rows: n, scores, flagged, classes };
}

/** The q-quantile of the values (the smallest value at or above a share q of them). */
function quantile(values: readonly number[], q: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
