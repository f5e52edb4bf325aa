/**
 * Reads system.yaml (described by schema/system.schema.json) into a SystemDescription.
 * A threat model built from a misread description is worse than none, so every error
 * names file:line, the key and the fix. Controls are free text, so a near miss of a known
 * control id is only a warning: it is returned on `SystemDescription.warnings` (absent
 * when there is none), which the analysis carries into the threat model.
 */
import { keyName, parseYaml, readYamlFile, type YamlPath, YamlReader, type YamlSource } from "../report/yaml.js";
import { COMPONENT_TYPES, type Component, type ComponentType, type Flow, KNOWN_CONTROLS, type SystemDescription } from "./types.js";

/** A list of every member of the union T, checked by the compiler so the parser and types.ts cannot drift. */
const allOf =
  <T extends string>() =>
  <const A extends readonly T[]>(values: A & ([T] extends [A[number]] ? unknown : "lists every member of the union")) =>
    values;

export const DEPLOYMENTS = allOf<SystemDescription["system"]["deployment"]>()(["internet-facing", "internal"]);
export const ACCESS_LEVELS = allOf<NonNullable<Component["access"]>>()(["white_box", "grey_box", "black_box"]);
export const OUTPUT_KINDS = allOf<NonNullable<Component["outputs"]>>()(["labels", "top_k", "probabilities", "logits"]);
export const DATA_SOURCES = allOf<NonNullable<Component["source"]>>()(["first_party", "third_party", "user_generated", "web"]);

const ROOT_KEYS = ["system", "components", "flows", "controls"];
const SYSTEM_KEYS = ["name", "owner", "description", "deployment", "regulated_data"];
const FLOW_KEYS = ["from", "to", "data", "protocol", "authenticated", "encrypted"];
const COMPONENT_KEYS = [
  "id",
  "type",
  "name",
  "description",
  "trust_zone",
  "access",
  "outputs",
  "framework",
  "format",
  "system_prompt_has_secrets",
  "tools",
  "contains_pii",
  "source",
];

const MODEL_TYPES: readonly ComponentType[] = ["model", "third_party_model", "inference_api"];
const LLM_TYPES: readonly ComponentType[] = ["llm", "agent"];
const DATA_TYPES: readonly ComponentType[] = ["training_data", "data_store", "feature_store", "vector_store", "external_data_source"];
/** The component types a type-specific field describes; the rules read it nowhere else. */
const FIELD_TYPES: Record<string, readonly ComponentType[]> = {
  access: MODEL_TYPES,
  outputs: MODEL_TYPES,
  framework: MODEL_TYPES,
  format: MODEL_TYPES,
  system_prompt_has_secrets: LLM_TYPES,
  tools: LLM_TYPES,
  contains_pii: DATA_TYPES,
  source: DATA_TYPES,
};

/** Ids end up in threat ids ("AI-EVASION@model") and flow names ("a->b"): keep them plain. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function parseSystem(text: string, file: string): SystemDescription {
  return readSystem(parseYaml(text, file));
}

export function loadSystem(path: string): SystemDescription {
  return readSystem(readYamlFile(path));
}

function readSystem(source: YamlSource): SystemDescription {
  const r = new YamlReader(source);
  const warnings: string[] = [];
  if (source.value === null || source.value === undefined) {
    r.fail([], "is empty; describe the system, or start from `aegis threat init --template <name>`");
  }
  const root = keys(r, [], source.value, ROOT_KEYS);

  const sys = keys(r, ["system"], required(r, [], root, "system", "add a `system:` mapping with at least name and deployment"), SYSTEM_KEYS);
  const system: SystemDescription["system"] = {
    name: r.string(["system", "name"], required(r, ["system"], sys, "name", "add `name: <what the system is called>`")),
    deployment: choice(r, ["system", "deployment"], required(r, ["system"], sys, "deployment", `add \`deployment: ${DEPLOYMENTS.join(" | ")}\``), DEPLOYMENTS),
  };
  if (present(sys.owner)) system.owner = r.string(["system", "owner"], sys.owner);
  if (present(sys.description)) system.description = r.string(["system", "description"], sys.description);
  if (present(sys.regulated_data)) system.regulated_data = strings(r, ["system", "regulated_data"], sys.regulated_data);

  const componentList = r.list(["components"], required(r, [], root, "components", "list the system's components, each with id, type and trust_zone"));
  if (componentList.length === 0) r.fail(["components"], "is empty; list the system's components, each with id, type and trust_zone");
  const firstIndex = new Map<string, number>();
  const components = componentList.map((value, i) => {
    const component = readComponent(r, ["components", i], value, warnings);
    const earlier = firstIndex.get(component.id);
    if (earlier !== undefined) {
      r.fail(
        ["components", i, "id"],
        `"${component.id}" is already the id of components[${earlier}] (${source.where(["components", earlier])}); give each component its own id`,
      );
    }
    firstIndex.set(component.id, i);
    return component;
  });
  const ids = components.map((c) => c.id);

  const flows = present(root.flows) ? r.list(["flows"], root.flows).map((value, i) => readFlow(r, ["flows", i], value, ids)) : [];

  const controls = present(root.controls) ? strings(r, ["controls"], root.controls) : [];
  controls.forEach((control, i) => {
    if ((KNOWN_CONTROLS as readonly string[]).includes(control)) return;
    const near = closest(control, KNOWN_CONTROLS, 2);
    if (near) {
      warnings.push(
        `${source.where(["controls", i])}: controls[${i}] "${control}" is not a known control id and is kept as free text; write "${near}" if you meant it, so the rules count it`,
      );
    }
  });

  const description: SystemDescription = { system, components, flows, controls };
  if (warnings.length > 0) description.warnings = warnings;
  return description;
}

function readComponent(r: YamlReader, path: YamlPath, value: unknown, warnings: string[]): Component {
  const record = keys(r, path, value, COMPONENT_KEYS);
  const id = r.string([...path, "id"], required(r, path, record, "id", "add `id: <a short unique name>` (flows refer to it)"));
  if (!ID_PATTERN.test(id)) r.fail([...path, "id"], `is "${id}"; use letters, digits, "_", "-" and "." only, starting with a letter or digit`);
  const type = componentType(r, [...path, "type"], required(r, path, record, "type", `add \`type:\`, one of ${COMPONENT_TYPES.join(", ")}`));
  const component: Component = {
    id,
    type,
    trust_zone: r.string([...path, "trust_zone"], required(r, path, record, "trust_zone", "add `trust_zone: <zone name>`, e.g. internet, dmz, internal")),
  };
  for (const key of ["name", "description", "framework", "format"] as const) {
    if (present(record[key])) component[key] = r.string([...path, key], record[key]);
  }
  if (present(record.access)) component.access = choice(r, [...path, "access"], record.access, ACCESS_LEVELS);
  if (present(record.outputs)) component.outputs = choice(r, [...path, "outputs"], record.outputs, OUTPUT_KINDS);
  if (present(record.source)) component.source = choice(r, [...path, "source"], record.source, DATA_SOURCES);
  if (present(record.system_prompt_has_secrets))
    component.system_prompt_has_secrets = r.boolean([...path, "system_prompt_has_secrets"], record.system_prompt_has_secrets);
  if (present(record.contains_pii)) component.contains_pii = r.boolean([...path, "contains_pii"], record.contains_pii);
  if (present(record.tools)) component.tools = strings(r, [...path, "tools"], record.tools);

  for (const [key, types] of Object.entries(FIELD_TYPES)) {
    if (present(record[key]) && !types.includes(type)) {
      warnings.push(
        `${r.source.where([...path, key])}: ${keyName([...path, key])} describes ${types.join(", ")} components and is ignored on a ${type}; move it to the component it describes or remove it`,
      );
    }
  }
  component.line = lineOf(r.source, path);
  return component;
}

function readFlow(r: YamlReader, path: YamlPath, value: unknown, ids: readonly string[]): Flow {
  const record = keys(r, path, value, FLOW_KEYS);
  const end = (key: "from" | "to"): string => {
    const id = r.string([...path, key], required(r, path, record, key, `add \`${key}: <component id>\`, one of ${ids.join(", ")}`));
    if (!ids.includes(id)) {
      r.fail(
        [...path, key],
        `is "${id}", which is not the id of any component${suggest(id, ids)}; use one of ${ids.join(", ")}, or declare it under components`,
      );
    }
    return id;
  };
  const flow: Flow = { from: end("from"), to: end("to") };
  if (present(record.data)) flow.data = r.string([...path, "data"], record.data);
  if (present(record.protocol)) flow.protocol = r.string([...path, "protocol"], record.protocol);
  if (present(record.authenticated)) flow.authenticated = r.boolean([...path, "authenticated"], record.authenticated);
  if (present(record.encrypted)) flow.encrypted = r.boolean([...path, "encrypted"], record.encrypted);
  flow.line = lineOf(r.source, path);
  return flow;
}

/** An empty value (`owner:`) counts as absent for optional keys. */
const present = (value: unknown): boolean => value !== undefined && value !== null;

function required(r: YamlReader, path: YamlPath, record: Record<string, unknown>, key: string, fix: string): unknown {
  const value = record[key];
  if (!present(value)) r.fail([...path, key], `is ${value === undefined ? "missing" : "empty"}; ${fix}`);
  return value;
}

/** A mapping whose keys are all known, with the closest known key suggested for a typo. */
function keys(r: YamlReader, path: YamlPath, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  const record = r.map(path, value);
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) r.fail([...path, key], `is not a known key${suggest(key, allowed)}; use ${allowed.join(", ")}`);
  }
  return record;
}

function choice<T extends string>(r: YamlReader, path: YamlPath, value: unknown, choices: readonly T[]): T {
  const text = r.string(path, value);
  if (!(choices as readonly string[]).includes(text)) r.fail(path, `is "${text}"${suggest(text, choices)}; use one of ${choices.join(", ")}`);
  return text as T;
}

function componentType(r: YamlReader, path: YamlPath, value: unknown): ComponentType {
  const text = r.string(path, value);
  if (!(COMPONENT_TYPES as readonly string[]).includes(text)) {
    r.fail(path, `is "${text}", which is not a component type${suggest(text, COMPONENT_TYPES)}; the types are ${COMPONENT_TYPES.join(", ")}`);
  }
  return text as ComponentType;
}

function strings(r: YamlReader, path: YamlPath, value: unknown): string[] {
  return r.list(path, value).map((item, i) => r.string([...path, i], item));
}

function lineOf(source: YamlSource, path: YamlPath): number | undefined {
  const match = /:(\d+)$/.exec(source.where(path));
  return match ? Number(match[1]) : undefined;
}

function suggest(word: string, candidates: readonly string[]): string {
  // A shortened key ("regulated" for "regulated_data") is far in edits but plainly meant.
  const near =
    closest(word, candidates, Math.max(2, Math.floor(word.length / 3))) ??
    (word.length >= 4 ? candidates.find((c) => c.toLowerCase().startsWith(word.toLowerCase())) : undefined);
  return near ? ` (did you mean "${near}"?)` : "";
}

/**
 * The candidate nearest to `word` within `maxDistance` edits, comparing case-insensitively
 * with spaces and dashes read as underscores ("API Gateway" is near "api_gateway").
 */
export function closest(word: string, candidates: readonly string[], maxDistance: number): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[\s-]+/g, "_");
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const candidate of candidates) {
    const d = editDistance(norm(word), norm(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance counting a swap of neighbours as one edit (the commonest typo). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
