/**
 * `aegis fl split`: one labelled table into the files a federation trial needs.
 *
 * - A stratified held-out test share (the server's validation data and the yardstick for
 *   centralised training), taken first so that no client ever holds a test row.
 * - The rest dealt to the clients by the label-Dirichlet scheme of partition.ts: small α
 *   gives each client its own class mix and size (non-IID in labels and in quantity).
 * - The union of the clients' rows, for training the same model centrally.
 * - Optionally standardised features (z-scores). The mean and standard deviation come from
 *   the training rows only; in a real federation they would be agreed beforehand or summed
 *   securely, which is why they are reported with the split.
 */
import { createRng } from "../../data/index.js";
import { AegisError } from "../../errors.js";
import { float32, gatherRows, type Tensor } from "../../tensor.js";
import type { ClientData } from "./client.js";
import { dirichletSplit } from "./partition.js";

export interface FederationSplitOptions {
  clients: number;
  /** Dirichlet α of the label split (small = non-IID, Infinity = IID). */
  alpha: number;
  /** Share of each class held out for testing, in [0, 1). */
  testShare: number;
  /** Standardise every feature with the training rows' mean and standard deviation. */
  standardise: boolean;
  seed: number;
}

export const FEDERATION_SPLIT_DEFAULTS: FederationSplitOptions = { clients: 5, alpha: 0.5, testShare: 0.2, standardise: false, seed: 0 };

export interface FederationSplit {
  clients: ClientData[];
  /** Every client's rows together: what centralised training sees. */
  train: ClientData;
  test: ClientData;
  /** Per-feature mean and standard deviation applied, when standardised. */
  scaling?: { mean: number[]; std: number[] };
}

export function splitFederation(data: ClientData, options: FederationSplitOptions): FederationSplit {
  const n = data.x.shape[0];
  if (data.x.shape.length !== 2) throw new AegisError("BAD_DATA", `fl split takes a table of rows × features, not a tensor of shape [${data.x.shape}]`);
  if (!(options.testShare >= 0 && options.testShare < 1)) throw new AegisError("BAD_OPTION", `--test-share must lie in [0, 1), not ${options.testShare}`);
  const rng = createRng(options.seed);
  const testRows: number[] = [];
  const trainRows: number[] = [];
  const classes = [...new Set(data.labels)].sort((a, b) => a - b);
  for (const c of classes) {
    const rows = rng.shuffle(data.labels.flatMap((label, row) => (label === c ? [row] : [])));
    const held = Math.round(rows.length * options.testShare);
    testRows.push(...rows.slice(0, held));
    trainRows.push(...rows.slice(held));
  }
  if (trainRows.length < options.clients)
    throw new AegisError(
      "BAD_DATA",
      `${n} rows leave ${trainRows.length} for training, too few for ${options.clients} clients; lower --test-share or --clients`,
    );
  const trainLabels = trainRows.map((row) => data.labels[row]);
  const shares = dirichletSplit(trainLabels, options.clients, options.alpha, options.seed + 1).map((share) => share.map((i) => trainRows[i]));
  const scaling = options.standardise ? featureScaling(data.x, trainRows) : undefined;
  const take = (rows: number[]): ClientData => ({
    x: scaling ? standardised(gatherRows(data.x, rows), scaling) : gatherRows(data.x, rows),
    labels: rows.map((row) => data.labels[row]),
  });
  return { clients: shares.map(take), train: take(shares.flat()), test: take(rng.shuffle(testRows)), scaling };
}

/** Mean and standard deviation of each feature over `rows`; a constant feature keeps sd 1. */
function featureScaling(x: Tensor<"float32">, rows: readonly number[]): { mean: number[]; std: number[] } {
  const features = x.shape[1];
  const sum = new Array<number>(features).fill(0);
  const square = new Array<number>(features).fill(0);
  for (const row of rows) {
    for (let f = 0; f < features; f++) {
      const v = x.data[row * features + f];
      sum[f] += v;
      square[f] += v * v;
    }
  }
  const m = rows.length;
  const means = sum.map((s) => s / m);
  const std = square.map((s, f) => {
    const variance = s / m - means[f] ** 2;
    return variance > 0 ? Math.sqrt(variance) : 1;
  });
  return { mean: means, std };
}

function standardised(x: Tensor<"float32">, scaling: { mean: number[]; std: number[] }): Tensor<"float32"> {
  const features = x.shape[1];
  return float32(
    x.shape,
    Float32Array.from(x.data, (v, i) => (v - scaling.mean[i % features]) / scaling.std[i % features]),
  );
}
