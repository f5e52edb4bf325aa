/**
 * The flags of a membership-inference run, shared by `aegis infer membership` and
 * `aegis audit --privacy`: the three data parts (members, non-members, the attacker's
 * reference data), the attacks, and how the shadow models train.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import {
  AUGMENTATIONS,
  type AugmentationName,
  DEFAULT_SHADOW_TRAINING,
  type LabelledData,
  MEMBERSHIP_ATTACKS,
  type MembershipAttackName,
  type ShadowArchitecture,
  type ShadowSetup,
  type ShadowTraining,
} from "../attacks/index.js";
import { requireLabels } from "../data/index.js";
import { ARCHITECTURES, type Architecture } from "../engine/architectures.js";
import { AegisError } from "../errors.js";
import { gatherRows } from "../tensor.js";
import { loadData } from "./common.js";
import { parseInteger, parseNumber } from "./options.js";

export const DATA_HELP = "<data>[:train|:test][:from-to], e.g. mnist:train:0-500 or members.npz";

/** --members, --non-members and --reference; required unless `optional` (then the command checks them). */
export function withMembershipData(cmd: Command, optional = false): Command {
  const add = (flag: string, help: string) => (optional ? cmd.option(flag, help) : cmd.requiredOption(flag, help));
  add("--members <spec>", `samples the model trained on: ${DATA_HELP}`);
  add("--non-members <spec>", `samples from the same distribution it never saw: ${DATA_HELP}`);
  add("--reference <spec>", `the attacker's own data from that distribution, disjoint from both (shadow models train on it): ${DATA_HELP}`);
  return cmd;
}

/** How shadow models train (--shadow-*), where they are kept, and the query augmentation; --shadows itself is the command's. */
export function withShadowTraining(cmd: Command): Command {
  return cmd
    .option("--shadow-arch <arch>", `shadow-model architecture: target (the target's own, re-initialised) | ${ARCHITECTURES.join(" | ")}`, "target")
    .option(
      "--train-size <n>",
      "samples per shadow model: the size of the target's training set (default: the number of members)",
      parseInteger("--train-size", 1),
    )
    .option("--shadow-epochs <n>", "epochs per shadow model: as the target was trained", parseInteger("--shadow-epochs", 1), DEFAULT_SHADOW_TRAINING.epochs)
    .option("--shadow-optimizer <name>", "adam | sgd", DEFAULT_SHADOW_TRAINING.optimizer)
    .option("--shadow-lr <rate>", "shadow-model learning rate", parseNumber("--shadow-lr"), DEFAULT_SHADOW_TRAINING.lr)
    .option("--shadow-batch-size <n>", "shadow-model batch size", parseInteger("--shadow-batch-size", 1), DEFAULT_SHADOW_TRAINING.batchSize)
    .option("--shadow-weight-decay <w>", "shadow-model L2 weight decay", parseNumber("--shadow-weight-decay"), DEFAULT_SHADOW_TRAINING.weightDecay)
    .option("--shadow-augment <name>", "shadow-model training augmentation: none | shift | flip-shift", DEFAULT_SHADOW_TRAINING.augment)
    .option("--workers <n>", "shadow models trained at once, each in a worker thread", parseInteger("--workers", 1), 1)
    .option("--checkpoint <dir>", "keep finished shadow models there; the same command run again reuses them")
    .option("--augment <name>", `query augmentations: ${AUGMENTATIONS.join(" | ")} (default: --shadow-augment, the augmentation the model trained with)`);
}

export interface MembershipPart {
  data: LabelledData;
  name: string;
}

/** The three parts, loaded and labelled. */
export function loadMembershipData(opts: { members: string; nonMembers: string; reference: string; xKey: string; yKey: string }): {
  members: MembershipPart;
  nonMembers: MembershipPart;
  reference: MembershipPart;
} {
  return {
    members: loadPart(opts.members, "--members", opts),
    nonMembers: loadPart(opts.nonMembers, "--non-members", opts),
    reference: loadPart(opts.reference, "--reference", opts),
  };
}

/** A data spec with an optional built-in split and row range (see DATA_HELP). */
export function loadPart(spec: string, flag: string, opts: { xKey: string; yKey: string }): MembershipPart {
  let rest = spec;
  let rows: [number, number] | undefined;
  const range = /:(\d+)-(\d+)$/.exec(rest);
  if (range) {
    rows = [Number(range[1]), Number(range[2])];
    rest = rest.slice(0, range.index);
    if (rows[1] <= rows[0]) throw new AegisError("BAD_OPTION", `${flag}: the row range ${rows[0]}-${rows[1]} is empty; write from-to with from < to`);
  }
  let split: string | undefined;
  const named = /:(train|test)$/.exec(rest);
  if (named) {
    split = named[1];
    rest = rest.slice(0, named.index);
  }
  const dataset = loadData(rest, { xKey: opts.xKey, yKey: opts.yKey, split });
  const labels = requireLabels(dataset, "membership inference");
  if (!rows) return { data: { x: dataset.x, labels }, name: dataset.name };
  if (rows[1] > labels.length)
    throw new AegisError("BAD_OPTION", `${flag}: rows ${rows[0]}-${rows[1]} go past the ${labels.length} samples of ${dataset.name}`);
  const picked = Array.from({ length: rows[1] - rows[0] }, (_, i) => rows[0] + i);
  return { data: { x: gatherRows(dataset.x, picked), labels: picked.map((i) => labels[i]) }, name: `${dataset.name} rows ${rows[0]}-${rows[1]}` };
}

export function parseMembershipAttacks(flag: string, value: string): MembershipAttackName[] {
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.find((n) => !MEMBERSHIP_ATTACKS.includes(n as MembershipAttackName));
  if (bad !== undefined || names.length === 0)
    throw new AegisError("BAD_OPTION", `${flag} takes a comma-separated list of ${MEMBERSHIP_ATTACKS.join(", ")}${bad === undefined ? "" : `, not "${bad}"`}`);
  return [...new Set(names as MembershipAttackName[])];
}

export function parseAugment(value: string | undefined): AugmentationName | undefined {
  if (value !== undefined && !AUGMENTATIONS.includes(value as AugmentationName))
    throw new AegisError("BAD_OPTION", `--augment must be one of ${AUGMENTATIONS.join(", ")}, not "${value}"`);
  return value as AugmentationName | undefined;
}

/** The shadow-model set-up the flags describe: `count` models per plan of `model`'s own architecture or one of Aegis's. */
export function shadowSetup(opts: Record<string, unknown>, model: string, numClasses: number, count: number, members: number): ShadowSetup {
  return {
    config: { architecture: shadowArchitecture(opts.shadowArch as string, model), numClasses, training: shadowTraining(opts) },
    count,
    trainSize: (opts.trainSize as number | undefined) ?? members,
    workers: opts.workers as number,
    checkpointDir: opts.checkpoint as string | undefined,
  };
}

function shadowArchitecture(name: string, model: string): ShadowArchitecture {
  if (name === "target") return { like: readFileSync(model) };
  if (!ARCHITECTURES.includes(name as Architecture))
    throw new AegisError("BAD_OPTION", `--shadow-arch must be target or one of ${ARCHITECTURES.join(", ")}, not "${name}"`);
  return { arch: name as Architecture };
}

function shadowTraining(opts: Record<string, unknown>): ShadowTraining {
  if (opts.shadowOptimizer !== "adam" && opts.shadowOptimizer !== "sgd")
    throw new AegisError("BAD_OPTION", `--shadow-optimizer must be adam or sgd, not "${opts.shadowOptimizer}"`);
  if (!["none", "shift", "flip-shift"].includes(opts.shadowAugment as string))
    throw new AegisError("BAD_OPTION", `--shadow-augment must be none, shift or flip-shift, not "${opts.shadowAugment}"`);
  return {
    ...DEFAULT_SHADOW_TRAINING,
    epochs: opts.shadowEpochs as number,
    optimizer: opts.shadowOptimizer,
    lr: opts.shadowLr as number,
    batchSize: opts.shadowBatchSize as number,
    weightDecay: opts.shadowWeightDecay as number,
    augment: opts.shadowAugment as ShadowTraining["augment"],
  };
}
