/**
 * The poison manifest (`aegis poison --manifest poison.json`): which rows an attack changed,
 * its trigger and its goal. It is evaluation's ground truth — the attack success rate of
 * `aegis audit --backdoor`, the precision and recall of `aegis inspect-data --manifest` —
 * and never an input to a defence. Other tools can write one (the held-out fixtures do).
 */
import { readFileSync } from "node:fs";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { float32, type Tensor } from "../../tensor.js";
import { AEGIS_VERSION } from "../../version.js";
import { compileTrigger, TRIGGER_KINDS } from "./trigger.js";
import type { EncodedInputs, PoisonData, PoisonGoal, PoisonManifest } from "./types.js";

export const MANIFEST_FORMAT = "aegis-poison";

/** A manifest for an attack's result; `poisoned` rows are sorted and their original labels taken from `data`. */
export function createManifest(
  attack: { name: string; paper: string },
  params: object,
  data: PoisonData,
  goal: PoisonGoal,
  trigger: PoisonManifest["trigger"],
  poisoned: readonly number[],
  originalLabels: readonly number[] = [],
): PoisonManifest {
  const order = poisoned.map((row, i) => ({ row, label: originalLabels[i] ?? data.labels[row] })).sort((a, b) => a.row - b.row);
  return {
    format: MANIFEST_FORMAT,
    version: 1,
    aegis: AEGIS_VERSION,
    created: new Date().toISOString(),
    attack: attack.name,
    paper: attack.paper,
    params: JSON.parse(JSON.stringify(params)),
    data: { source: data.source, rows: data.x.shape[0], sample_shape: [...data.x.shape.slice(1)], num_classes: data.numClasses },
    goal,
    trigger,
    poisoned: order.map((o) => o.row),
    original_labels: order.map((o) => o.label),
  };
}

export function encodeInputs(x: Tensor<"float32">, labels: readonly number[]): EncodedInputs {
  return { shape: [...x.shape], base64: Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength).toString("base64"), labels: [...labels] };
}

export function decodeInputs(e: EncodedInputs, path = "the manifest"): { x: Tensor<"float32">; labels: number[] } {
  const bytes = Buffer.from(String(e?.base64 ?? ""), "base64");
  const size = Array.isArray(e?.shape) ? e.shape.reduce((a, b) => a * b, 1) : -1;
  if (size < 0 || bytes.byteLength !== size * 4 || !Array.isArray(e.labels) || e.labels.length !== e.shape[0])
    throw damaged(path, "its target inputs do not match their shape and labels");
  const data = new Float32Array(size);
  new Uint8Array(data.buffer).set(bytes);
  return { x: float32(e.shape, data), labels: e.labels.map(Number) };
}

export function saveManifest(path: string, manifest: PoisonManifest): void {
  writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`);
}

function damaged(path: string, why: string): AegisError {
  return new AegisError("BAD_DATA", `${path} is not a valid poison manifest (${why}); write one with aegis poison --manifest.`);
}

/** Reads and checks a manifest: format, goal, trigger (it must compile for the data's samples) and rows. */
export function loadManifest(path: string): PoisonManifest {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AegisError(
      "FILE_NOT_FOUND",
      `Cannot read the poison manifest ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path.`,
      {
        cause: e,
      },
    );
  }
  let m: PoisonManifest;
  try {
    m = JSON.parse(text);
  } catch {
    throw damaged(path, "not JSON");
  }
  if (m?.format !== MANIFEST_FORMAT || m.version !== 1) throw damaged(path, `no "format": "${MANIFEST_FORMAT}", "version": 1 header`);
  if (!Array.isArray(m.poisoned) || !m.poisoned.every((r) => Number.isInteger(r) && r >= 0)) throw damaged(path, "poisoned must list row indices");
  if (!Array.isArray(m.original_labels) || m.original_labels.length !== m.poisoned.length)
    throw damaged(path, "original_labels must give one label per poisoned row");
  if (!Array.isArray(m.data?.sample_shape) || !Number.isInteger(m.data?.num_classes)) throw damaged(path, "data needs sample_shape and num_classes");
  const goal = m.goal as PoisonGoal | undefined;
  const k = m.data.num_classes;
  const isClass = (c: unknown) => Number.isInteger(c) && (c as number) >= 0 && (c as number) < k;
  switch (goal?.kind) {
    case "backdoor":
      if (!isClass(goal.target) || (goal.mode !== "all-to-one" && goal.mode !== "all-to-all"))
        throw damaged(path, "a backdoor goal needs a target class and a mode");
      if (!m.trigger) throw damaged(path, "a backdoor goal needs a trigger");
      break;
    case "targeted":
      if (!isClass(goal.adversarial_class)) throw damaged(path, "a targeted goal needs an adversarial_class");
      decodeInputs(goal.targets, path);
      break;
    case "label-flip":
      if ((goal.source !== null && !isClass(goal.source)) || (goal.target !== null && !isClass(goal.target)))
        throw damaged(path, "a label-flip goal's source and target are classes or null");
      break;
    case "blind-spot":
      if (
        !isClass(goal.positive_class) ||
        !isClass(goal.benign_class) ||
        !Array.isArray(goal.pattern) ||
        goal.pattern.length === 0 ||
        !goal.pattern.every((c) => Number.isInteger(c?.feature) && ["=", "<=", ">="].includes(c.op) && typeof c.value === "number")
      )
        throw damaged(path, "a blind-spot goal needs a pattern (a list of {feature, op, value} conditions) and two classes");
      break;
    default:
      throw damaged(path, `unknown goal "${String((goal as { kind?: unknown } | undefined)?.kind)}"`);
  }
  if (m.trigger) {
    if (!TRIGGER_KINDS.includes(m.trigger.kind)) throw damaged(path, `unknown trigger "${String(m.trigger.kind)}"`);
    compileTrigger(m.trigger, m.data.sample_shape);
  }
  return m;
}

/** Row flags: true for the rows the manifest lists, over a set of `rows` rows. */
export function poisonedFlags(manifest: PoisonManifest, rows: number): boolean[] {
  const flags = new Array<boolean>(rows).fill(false);
  for (const r of manifest.poisoned) {
    if (r >= rows)
      throw new AegisError(
        "SHAPE_MISMATCH",
        `the manifest lists row ${r}, but the data has ${rows} rows; give the poisoned file the manifest was written with`,
      );
    flags[r] = true;
  }
  return flags;
}
