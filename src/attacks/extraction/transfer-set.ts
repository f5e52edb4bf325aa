/**
 * What the attacks that label a transfer set and then train on it share (Copycat, Knockoff,
 * and the final model of the adaptive ones): querying rows in chunks, turning answers into
 * targets, and training a fresh stolen model on each checkpoint's prefix of the transfer
 * set, so that the curve's point at q queries is the model an attacker with a budget of q
 * would have got.
 */
import type { OnnxClassifier } from "../../engine/index.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sliceRows, type Tensor } from "../../tensor.js";
import type { QueryOracle } from "./oracle.js";
import { type TrainingSchedule, trainStolen } from "./stolen-model.js";
import type { ExtractionContext, ExtractionInput, TargetKind } from "./types.js";

/** Rows per oracle call: progress and the query log advance at this grain. */
export const QUERY_CHUNK = 256;

/** The victim's answers to every row of x, in chunks. */
export async function queryRows(oracle: QueryOracle, x: Tensor<"float32">): Promise<Tensor<"float32">> {
  const n = x.shape[0];
  const k = oracle.numClasses;
  const answers = new Float32Array(n * k);
  for (let start = 0; start < n; start += QUERY_CHUNK) {
    const end = Math.min(n, start + QUERY_CHUNK);
    answers.set((await oracle.query(sliceRows(x, start, end))).data, start * k);
  }
  return float32([n, k], answers);
}

/** The answers as training targets: as given ("soft"), or one-hot at their top class ("hard"). */
export function asTargets(answers: Tensor<"float32">, kind: TargetKind): Tensor<"float32"> {
  if (kind === "soft") return answers;
  const [n, k] = answers.shape;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) out[i * k + argmaxRow(answers, i)] = 1;
  return float32([n, k], out);
}

/** The checkpoints strictly below `spent`, in order; the final model is always the last point. */
export function checkpointsBelow(context: ExtractionContext, spent: number): number[] {
  return [...new Set(context.checkpoints ?? [])].filter((q) => q > 0 && q < spent).sort((a, b) => a - b);
}

/**
 * Trains a fresh stolen model on the first q rows for each checkpoint q (handed to
 * onCheckpoint, then released), and on all rows for the result.
 */
export async function trainOnTransferSet(
  oracle: QueryOracle,
  input: ExtractionInput,
  schedule: TrainingSchedule,
  transfer: { x: Tensor<"float32">; targets: Tensor<"float32"> },
  context: ExtractionContext,
): Promise<OnnxClassifier> {
  const n = transfer.x.shape[0];
  for (const q of checkpointsBelow(context, n)) {
    context.onStatus?.(`training on the first ${q} answers`);
    const model = await trainStolen(
      oracle,
      input.stolen,
      schedule,
      { x: sliceRows(transfer.x, 0, q), answers: sliceRows(transfer.targets, 0, q) },
      context.signal,
    );
    try {
      await context.onCheckpoint?.(q, model);
    } finally {
      await model.release();
    }
  }
  context.onStatus?.(`training on all ${n} answers`);
  const stolen = await trainStolen(oracle, input.stolen, schedule, { x: transfer.x, answers: transfer.targets }, context.signal);
  await context.onCheckpoint?.(n, stolen);
  return stolen;
}

/** The attacker's data, which an attack of natural data cannot do without. */
export function thiefData(input: ExtractionInput, attack: string): Tensor<"float32"> {
  if (!input.thief || input.thief.shape[0] === 0) {
    throw new AegisError("BAD_OPTION", `${attack} labels natural data with the victim; give some with --thief-data (or use dfme, which needs none)`);
  }
  return input.thief;
}
