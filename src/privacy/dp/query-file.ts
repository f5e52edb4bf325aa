/**
 * A YAML file of DP queries (`aegis privacy query --file Q.yaml`): shared bounds, groups and
 * mechanism, and a list of queries each with its ε (and δ for the Gaussian mechanism). Every
 * error names the file, the line and the key.
 *
 *   bounds: { age: [0, 100] }
 *   domains: { region: [north, south] }
 *   queries:
 *     - { query: "mean(age) by region", epsilon: 0.5 }
 *     - { query: "count()", epsilon: 0.2, mechanism: gaussian, delta: 1e-7 }
 */
import { isAegisError } from "../../errors.js";
import { readYamlFile, YamlReader } from "../../report/yaml.js";
import { parseQuery, type Query } from "./queries.js";

export interface PlannedQuery {
  query: Query;
  epsilon: number;
  mechanism: "laplace" | "gaussian";
  delta?: number;
}

export interface QueryFile {
  queries: PlannedQuery[];
  bounds: Map<string, readonly [number, number]>;
  domains: Map<string, string[]>;
  bins?: number;
}

const MECHANISMS = ["laplace", "gaussian"] as const;

export function readQueryFile(file: string): QueryFile {
  const source = readYamlFile(file);
  const r = new YamlReader(source);
  const top = r.map([], source.value, ["bounds", "domains", "bins", "mechanism", "queries"]);
  const bounds = new Map<string, readonly [number, number]>();
  for (const [column, value] of Object.entries(top.bounds === undefined ? {} : r.map(["bounds"], top.bounds))) {
    const pair = r.list(["bounds", column], value);
    if (pair.length !== 2) r.fail(["bounds", column], "must be [LOW, HIGH]");
    const low = r.number(["bounds", column, 0], pair[0]);
    const high = r.number(["bounds", column, 1], pair[1]);
    if (!(low < high)) r.fail(["bounds", column], `must have LOW < HIGH, not [${low}, ${high}]`);
    bounds.set(column, [low, high]);
  }
  const domains = new Map<string, string[]>();
  for (const [column, value] of Object.entries(top.domains === undefined ? {} : r.map(["domains"], top.domains))) {
    const groups = r.list(["domains", column], value).map((g, i) => String(typeof g === "number" ? g : r.string(["domains", column, i], g)));
    if (groups.length === 0 || new Set(groups).size !== groups.length) r.fail(["domains", column], "must list distinct groups");
    domains.set(column, groups);
  }
  const bins = top.bins === undefined ? undefined : r.number(["bins"], top.bins, { min: 1, integer: true });
  const fallback = top.mechanism === undefined ? "laplace" : (r.string(["mechanism"], top.mechanism, MECHANISMS) as PlannedQuery["mechanism"]);
  const list = r.list(["queries"], top.queries);
  if (list.length === 0) r.fail(["queries"], "must list at least one query");
  const queries = list.map((item, i): PlannedQuery => {
    const path = ["queries", i];
    const q = r.map(path, item, ["query", "epsilon", "mechanism", "delta"]);
    const text = r.string([...path, "query"], q.query);
    let query: Query;
    try {
      query = parseQuery(text);
    } catch (e) {
      if (isAegisError(e)) r.fail([...path, "query"], e.message);
      throw e;
    }
    const mechanism = q.mechanism === undefined ? fallback : (r.string([...path, "mechanism"], q.mechanism, MECHANISMS) as PlannedQuery["mechanism"]);
    const epsilon = r.number([...path, "epsilon"], q.epsilon, { min: Number.MIN_VALUE });
    const delta = q.delta === undefined ? undefined : r.number([...path, "delta"], q.delta, { min: Number.MIN_VALUE, max: 0.999 });
    if (mechanism === "laplace" && delta !== undefined) r.fail([...path, "delta"], "is for the Gaussian mechanism; the Laplace mechanism spends ε only");
    if (mechanism === "gaussian" && delta === undefined) r.fail([...path], "uses the Gaussian mechanism and needs a delta");
    return { query, epsilon, mechanism, delta };
  });
  return { queries, bounds, domains, bins };
}
