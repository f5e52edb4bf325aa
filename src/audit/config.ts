/**
 * The audit suite: which attacks run, at which ε, on how many samples, with which
 * parameters — the built-in default or an `audit.yaml`. Attacks are named as in the
 * registry (`aegis attack --list`); a name the registry does not have is a config error.
 */

import type { Attack, CommonParams, Norm } from "../attacks/index.js";
import { ATTACKS, attackByName } from "../attacks/index.js";
import type { InputKind } from "../engine/input-kind.js";
import { AegisError } from "../errors.js";
import { readYamlFile, type YamlPath, YamlReader, type YamlSource } from "../report/yaml.js";
import { parseDuration } from "./budget.js";
import type { SuiteKind } from "./types.js";

export interface SuiteEntry {
  /** Name in reports and policies (`id@eps`); the attack's name unless the suite runs it twice. */
  id: string;
  attack: string;
  kind: SuiteKind;
  /** Budgets of a curve; the attack's default ε when not given. */
  eps?: number[];
  norm?: Norm;
  /** First n samples of the audit's samples. */
  samples?: number;
  /** Random target classes (seeded) instead of the true labels. */
  targeted?: boolean;
  /** Attack parameters by their names in `aegis attack --help-attack`. */
  params?: Record<string, unknown>;
}

export interface AuditConfig {
  /** The config file, or "built-in". */
  source: string;
  seed: number;
  /** Samples for clean accuracy and for every attack that does not set its own. */
  samples: number;
  batchSize: number;
  /** Seconds the whole audit may take: attacks are cut to fit (budget.ts); none when undefined. */
  timeBudget?: number;
  attacks: SuiteEntry[];
  /**
   * The built-in suite gives budget parameters (such as maxQueries) to attacks that may
   * not declare them; it drops those instead of refusing them as a user's file would be.
   */
  lenientParams: boolean;
}

/** Attacks that search for the smallest perturbation rather than work within an ε. */
export const MINIMUM_NORM_ATTACKS: ReadonlySet<string> = new Set(["cw-l2", "cw-linf", "deepfool", "ead", "jsma", "fab", "hopskipjump", "boundary", "sign-opt"]);

export type AttackLookup = (name: string) => Attack<CommonParams, unknown> | undefined;

/**
 * The default suite of `aegis audit` (issue 3), for a model's input kind (issue 23). On
 * images: FGSM and PGD at three ε, C&W L2, DeepFool, Square, HopSkipJump and AutoAttack on
 * smaller samples, so that it finishes in about a minute on two cores; ε are MNIST's
 * (inputs in [0, 1]). Tabular rows and sequences get the same attacks, with NES (Ilyas et
 * al. 2018, score-based like Square, on any input) in Square's place; Square stays listed,
 * skipped with its reason, so the report says what did not run. Token ids get the
 * registry's attacks that take them, and the continuous attacks listed as skipped.
 */
export function defaultAuditConfig(kind: InputKind = "image"): AuditConfig {
  const continuous: SuiteEntry[] = [
    { id: "fgsm", attack: "fgsm", kind: "curve", eps: [0.1, 0.2, 0.3], norm: "inf" },
    { id: "pgd", attack: "pgd", kind: "curve", eps: [0.1, 0.2, 0.3], norm: "inf" },
    { id: "cw-l2", attack: "cw-l2", kind: "minimum-norm", samples: 100 },
    { id: "deepfool", attack: "deepfool", kind: "minimum-norm", samples: 100 },
    // Square at the budget: L∞ ε = 0.3 with 1,000 queries.
    { id: "square", attack: "square", kind: "curve", eps: [0.3], norm: "inf", samples: 100, params: { maxQueries: 1000 } },
  ];
  if (kind !== "image") continuous.push({ id: "nes", attack: "nes", kind: "curve", eps: [0.3], norm: "inf", samples: 100, params: { maxQueries: 1000 } });
  continuous.push(
    { id: "hopskipjump", attack: "hopskipjump", kind: "minimum-norm", samples: 20, params: { maxQueries: 2000 } },
    { id: "autoattack", attack: "autoattack", kind: "curve", eps: [0.3], norm: "inf", samples: 100 },
  );
  const tokens: SuiteEntry[] =
    kind === "tokens"
      ? ATTACKS.filter((a) => a.inputs?.includes("tokens")).map((a) => ({
          id: a.name,
          attack: a.name,
          kind: MINIMUM_NORM_ATTACKS.has(a.name) ? "minimum-norm" : "curve",
        }))
      : [];
  return { source: "built-in", seed: 0, samples: 500, batchSize: 128, lenientParams: true, attacks: [...tokens, ...continuous] };
}

const TOP_KEYS = ["seed", "samples", "batch_size", "time_budget", "attacks"];
const ENTRY_KEYS = ["attack", "id", "kind", "eps", "norm", "samples", "targeted", "params"];
/** Set at the entry level, not in params: the audit varies them itself. */
const ENTRY_LEVEL_PARAMS = new Set(["eps", "norm", "targeted"]);

export function loadAuditConfig(file: string, lookup: AttackLookup = attackByName): AuditConfig {
  return parseAuditConfig(readYamlFile(file), lookup);
}

export function parseAuditConfig(source: YamlSource, lookup: AttackLookup = attackByName): AuditConfig {
  const r = new YamlReader(source);
  const top = r.map([], source.value ?? {}, TOP_KEYS);
  const defaults = defaultAuditConfig();
  const config: AuditConfig = {
    source: source.file,
    seed: top.seed === undefined ? defaults.seed : r.number(["seed"], top.seed, { min: 0, integer: true }),
    samples: top.samples === undefined ? defaults.samples : r.number(["samples"], top.samples, { min: 1, integer: true }),
    batchSize: top.batch_size === undefined ? defaults.batchSize : r.number(["batch_size"], top.batch_size, { min: 1, integer: true }),
    ...(top.time_budget === undefined ? {} : { timeBudget: yamlDuration(r, top.time_budget) }),
    attacks: [],
    lenientParams: false,
  };
  if (top.attacks === undefined) r.fail(["attacks"], "is missing: list the attacks to run, e.g. attacks: [fgsm, pgd]");
  const list = r.list(["attacks"], top.attacks);
  if (list.length === 0) r.fail(["attacks"], "is empty: list at least one attack");
  list.forEach((item, i) => {
    config.attacks.push(parseEntry(r, ["attacks", i], typeof item === "string" ? { attack: item } : item, lookup));
  });
  const seen = new Map<string, number>();
  config.attacks.forEach((e, i) => {
    const first = seen.get(e.id);
    if (first !== undefined) r.fail(["attacks", i], `repeats the id "${e.id}" of attacks[${first}]; give one of them another id (id: ${e.id}-2)`);
    seen.set(e.id, i);
  });
  return config;
}

function parseEntry(r: YamlReader, path: YamlPath, item: unknown, lookup: AttackLookup): SuiteEntry {
  const raw = r.map(path, item, ENTRY_KEYS);
  const name = r.string([...path, "attack"], raw.attack);
  const attack = lookup(name);
  if (!attack) r.fail([...path, "attack"], `names no attack ("${name}"); aegis attack --list shows them`);
  const id = raw.id === undefined ? name : r.string([...path, "id"], raw.id);
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) r.fail([...path, "id"], `"${id}" may hold only letters, digits, ".", "_" and "-" (policies refer to it as id@eps)`);
  const eps =
    raw.eps === undefined
      ? undefined
      : (Array.isArray(raw.eps) ? raw.eps : [raw.eps]).map((v, k) => r.number(Array.isArray(raw.eps) ? [...path, "eps", k] : [...path, "eps"], v, { min: 0 }));
  if (eps?.length === 0) r.fail([...path, "eps"], "is empty: give one ε or a list");
  const kind = (
    raw.kind === undefined ? (MINIMUM_NORM_ATTACKS.has(name) ? "minimum-norm" : "curve") : r.string([...path, "kind"], raw.kind, ["curve", "minimum-norm"])
  ) as SuiteKind;
  if (kind === "minimum-norm" && eps !== undefined)
    r.fail([...path, "eps"], `is not used by ${name}, a minimum-norm attack (it finds each sample's smallest perturbation); remove eps or set kind: curve`);
  const entry: SuiteEntry = { id, attack: name, kind };
  if (eps) entry.eps = eps;
  if (raw.norm !== undefined) {
    entry.norm = r.string([...path, "norm"], raw.norm, attack.norms) as Norm;
  }
  if (raw.samples !== undefined) entry.samples = r.number([...path, "samples"], raw.samples, { min: 1, integer: true });
  if (raw.targeted !== undefined) entry.targeted = r.boolean([...path, "targeted"], raw.targeted);
  if (raw.params !== undefined) {
    const params = r.map([...path, "params"], raw.params);
    for (const [key, value] of Object.entries(params)) {
      const at = [...path, "params", key];
      if (ENTRY_LEVEL_PARAMS.has(key)) r.fail(at, `is set at the attack's level (${key}: …), not in params`);
      if (!(key in attack.help)) r.fail(at, `is not a parameter of ${name}; it takes ${paramNames(attack).join(", ")}`);
      const expected = (attack.defaults as unknown as Record<string, unknown>)[key];
      if (expected !== undefined && typeof value !== typeof expected)
        r.fail(at, `must be a ${typeof expected} like its default (${JSON.stringify(expected)}), not ${JSON.stringify(value)}`);
    }
    entry.params = params;
  }
  return entry;
}

/** time_budget: 300 (seconds) or "10m" (what --time-budget takes). */
function yamlDuration(r: YamlReader, value: unknown): number {
  if (typeof value === "number") return r.number(["time_budget"], value, { min: 1 });
  const text = r.string(["time_budget"], value);
  try {
    return parseDuration("time_budget", text);
  } catch {
    return r.fail(["time_budget"], `takes a duration such as 300, 90s, 10m or 1h30m, not "${text}"`);
  }
}

function paramNames(attack: Attack<CommonParams, unknown>): string[] {
  return Object.keys(attack.help).filter((k) => !ENTRY_LEVEL_PARAMS.has(k));
}

export interface ConfigOverrides {
  /** Caps every attack's samples. */
  samples?: number;
  /** Replaces the ε list of every curve. */
  eps?: number[];
  /** Keeps only these ids, in this order. */
  attacks?: string[];
  seed?: number;
  batchSize?: number;
  /** Replaces the suite's time budget (seconds). */
  timeBudget?: number;
}

/** Command-line options over a config: quick runs without editing the file. */
export function applyOverrides(config: AuditConfig, o: ConfigOverrides): AuditConfig {
  let attacks = config.attacks;
  if (o.attacks) {
    attacks = o.attacks.map((id) => {
      const entry = config.attacks.find((e) => e.id === id);
      if (!entry)
        throw new AegisError("BAD_OPTION", `--attacks names "${id}", which the suite does not have; it has ${config.attacks.map((e) => e.id).join(", ")}`);
      return entry;
    });
  }
  const eps = o.eps;
  const samples = o.samples;
  return {
    ...config,
    seed: o.seed ?? config.seed,
    batchSize: o.batchSize ?? config.batchSize,
    samples: samples ?? config.samples,
    ...(o.timeBudget !== undefined ? { timeBudget: o.timeBudget } : {}),
    attacks: attacks.map((e) => ({
      ...e,
      ...(eps && e.kind === "curve" ? { eps } : {}),
      ...(samples !== undefined ? { samples: Math.min(e.samples ?? samples, samples) } : {}),
    })),
  };
}
