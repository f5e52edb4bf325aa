/**
 * DP analytics over a table (CSV or npz columns): count, sum, mean, histogram and quantile
 * queries, optionally `by` a column, answered with the Laplace (laplace.ts), Gaussian
 * (gaussian.ts) or exponential (exponential.ts) mechanism. Neighbouring tables differ by one
 * row added or removed.
 *
 * - Sums, means and quantiles clamp the column to declared bounds [lo, hi]; without them the
 *   sensitivity is unbounded and the query is refused. Sensitivities: count 1; sum
 *   max(|lo|, |hi|); a mean is a noisy sum of (x − mid) (sensitivity (hi − lo)/2) over a noisy
 *   count, each with half the budget; quantiles use the exponential mechanism.
 * - Groups (`by`, and a histogram's categories) must be declared: releasing the keys found
 *   in the data would reveal that someone has them. Rows outside the declared groups are
 *   left out. One row is in one group, so all groups together cost the query's ε once
 *   (parallel composition); a numeric histogram's bins come from the bounds and `bins`.
 */
import { numberOf } from "../../data/index.js";
import { AegisError } from "../../errors.js";
import { dpQuantile } from "./exponential.js";
import { type GaussianCalibration, gaussianSigma } from "./gaussian.js";
import { checkEpsilon, laplaceInterval, laplaceScale, sampleLaplace } from "./laplace.js";
import type { SecureRandom } from "./secure-random.js";

export const AGGREGATES = ["count", "sum", "mean", "histogram", "quantile", "median"] as const;
export type Aggregate = (typeof AGGREGATES)[number];

export interface Query {
  aggregate: Aggregate;
  /** The column aggregated (none for count). */
  column?: string;
  /** quantile's p (median: 0.5). */
  p?: number;
  by?: string;
  text: string;
}

const QUERY = /^\s*([a-z]+)\s*\(\s*([^,)]*?)\s*(?:,\s*([^)]*?)\s*)?\)\s*(?:by\s+(\S+)\s*)?$/i;

/** Parses `count()`, `sum(col)`, `mean(col) by g`, `histogram(col)`, `quantile(col, 0.9)`, `median(col)`. */
export function parseQuery(text: string): Query {
  const match = QUERY.exec(text);
  const forms = 'count(), sum(col), mean(col), histogram(col), quantile(col, p) or median(col), optionally followed by "by col"';
  if (!match) throw new AegisError("BAD_OPTION", `cannot read the query "${text}": write ${forms}`);
  const [, name, argument, extra, by] = match;
  const aggregate = name.toLowerCase() as Aggregate;
  if (!AGGREGATES.includes(aggregate)) throw new AegisError("BAD_OPTION", `"${name}" is not a query: write ${forms}`);
  const column = argument === "" || argument === "*" ? undefined : argument;
  if (aggregate !== "count" && column === undefined) throw new AegisError("BAD_OPTION", `${aggregate}() needs a column: ${aggregate}(age)`);
  if (aggregate === "count" && column !== undefined)
    throw new AegisError("BAD_OPTION", `count takes no column (it counts rows): count() or count(*), not count(${column})`);
  if (extra !== undefined && aggregate !== "quantile") throw new AegisError("BAD_OPTION", `${aggregate}() takes one argument, not "${argument}, ${extra}"`);
  let p: number | undefined;
  if (aggregate === "quantile") {
    p = extra === undefined ? Number.NaN : Number(extra);
    if (!(p >= 0 && p <= 1))
      throw new AegisError("BAD_OPTION", `quantile(${column}, p) needs p in [0, 1], e.g. quantile(${column}, 0.9), not "${extra ?? ""}"`);
  }
  if (aggregate === "median") p = 0.5;
  if (aggregate === "histogram" && by !== undefined) throw new AegisError("BAD_OPTION", `a histogram already groups by its column; drop "by ${by}"`);
  return { aggregate, column, p, by, text: text.trim() };
}

/** A table's columns, each a list of cells (text from a CSV, numbers from an npz). */
export interface Table {
  name: string;
  rows: number;
  columns: Map<string, readonly (string | number)[]>;
}

export interface QuerySettings {
  epsilon: number;
  mechanism: "laplace" | "gaussian";
  /** Gaussian only. */
  delta?: number;
  calibration?: GaussianCalibration;
  /** Clamping bounds by column. */
  bounds: ReadonlyMap<string, readonly [number, number]>;
  /** Declared groups by column. */
  domains: ReadonlyMap<string, readonly string[]>;
  /** Bins of a numeric histogram (default 10). */
  bins?: number;
}

export interface ReleasedValue {
  /** The group (by) or the histogram bin or category; absent for an ungrouped query. */
  group?: string;
  value: number;
  /** Standard deviation of the noise on the value (for a mean: of its sum, before division). */
  noiseStd?: number;
  /** Half-width of the 95% interval of the noise (Laplace and Gaussian), as released. */
  error95?: number;
}

export interface Release {
  query: string;
  mechanism: "laplace" | "gaussian" | "exponential";
  epsilon: number;
  delta: number;
  values: ReleasedValue[];
}

function column(table: Table, name: string): readonly (string | number)[] {
  const values = table.columns.get(name);
  if (!values) throw new AegisError("BAD_OPTION", `${table.name} has no column "${name}" (columns: ${[...table.columns.keys()].join(", ")})`);
  return values;
}

function numbers(table: Table, name: string): number[] {
  return column(table, name).map((cell, i) => {
    const v = typeof cell === "number" ? cell : numberOf(cell);
    if (v === undefined || Number.isNaN(v))
      throw new AegisError("BAD_DATA", `${table.name}, row ${i + 1}, column "${name}": ${JSON.stringify(cell)} is not a number`);
    return v;
  });
}

function boundsOf(settings: QuerySettings, name: string, what: string): readonly [number, number] {
  const bounds = settings.bounds.get(name);
  if (!bounds)
    throw new AegisError(
      "BAD_OPTION",
      `${what} of "${name}" needs declared bounds: without them one record could move it arbitrarily far, and no amount of noise would hide that. Add --bounds ${name}=LOW:HIGH (values are clamped to them)`,
    );
  if (!(Number.isFinite(bounds[0]) && Number.isFinite(bounds[1]) && bounds[0] < bounds[1]))
    throw new AegisError("BAD_OPTION", `the bounds of "${name}" must be finite with LOW < HIGH, not ${bounds[0]}:${bounds[1]}`);
  return bounds;
}

/** Row indices by declared group; rows whose value is not a declared group are left out. */
function groupRows(table: Table, name: string, settings: QuerySettings): { group: string; rows: number[] }[] {
  const domain = settings.domains.get(name);
  if (!domain)
    throw new AegisError(
      "BAD_OPTION",
      `grouping by "${name}" needs its groups declared: the values found in the data would reveal who has the rare ones. Add --domain ${name}=A,B,C (rows with other values are left out)`,
    );
  const index = new Map(domain.map((g, i) => [g, i]));
  const groups = domain.map((group) => ({ group, rows: [] as number[] }));
  column(table, name).forEach((cell, i) => {
    const g = index.get(String(cell).trim());
    if (g !== undefined) groups[g].rows.push(i);
  });
  return groups;
}

/** A noisy value of a query with sensitivity Δ (L1 for Laplace, L2 for Gaussian) at (ε, δ). */
function noisy(
  value: number,
  sensitivity: number,
  epsilon: number,
  delta: number,
  settings: QuerySettings,
  random: SecureRandom,
): { value: number; std: number; error95: number } {
  if (settings.mechanism === "laplace") {
    const b = laplaceScale(sensitivity, epsilon);
    return { value: value + sampleLaplace(b, random), std: Math.SQRT2 * b, error95: laplaceInterval(b) };
  }
  const sigma = gaussianSigma(sensitivity, epsilon, delta, settings.calibration);
  return { value: value + sigma * random.normal(), std: sigma, error95: 1.959964 * sigma };
}

/** The mechanism that answers a query: quantiles always take the exponential mechanism. */
export function releaseMechanism(query: Query, mechanism: QuerySettings["mechanism"]): Release["mechanism"] {
  return query.aggregate === "quantile" || query.aggregate === "median" ? "exponential" : mechanism;
}

/** Answers one query over the table under the settings' budget, drawing noise from `random`. */
export function answerQuery(table: Table, query: Query, settings: QuerySettings, random: SecureRandom): Release {
  checkEpsilon(settings.epsilon);
  const delta = settings.mechanism === "gaussian" ? (settings.delta ?? Number.NaN) : 0;
  if (settings.mechanism === "gaussian" && !(delta > 0 && delta < 1))
    throw new AegisError("BAD_OPTION", "the Gaussian mechanism needs --delta in (0, 1), e.g. 1e-6");
  const { epsilon } = settings;
  const mechanism = releaseMechanism(query, settings.mechanism);
  const release = (values: ReleasedValue[]): Release => ({ query: query.text, mechanism, epsilon, delta: mechanism === "exponential" ? 0 : delta, values });
  const groups = query.by ? groupRows(table, query.by, settings) : [{ group: undefined, rows: Array.from({ length: table.rows }, (_, i) => i) }];

  switch (query.aggregate) {
    case "count":
      return release(groups.map(({ group, rows }) => answer(group, noisy(rows.length, 1, epsilon, delta, settings, random))));
    case "sum": {
      const values = numbers(table, query.column as string);
      const [lo, hi] = boundsOf(settings, query.column as string, "a sum");
      return release(
        groups.map(({ group, rows }) => {
          const sum = rows.reduce((s, i) => s + clamp(values[i], lo, hi), 0);
          return answer(group, noisy(sum, Math.max(Math.abs(lo), Math.abs(hi)), epsilon, delta, settings, random));
        }),
      );
    }
    case "mean": {
      const values = numbers(table, query.column as string);
      const [lo, hi] = boundsOf(settings, query.column as string, "a mean");
      const mid = (lo + hi) / 2;
      return release(
        groups.map(({ group, rows }) => {
          const centred = noisy(
            rows.reduce((s, i) => s + clamp(values[i], lo, hi) - mid, 0),
            (hi - lo) / 2,
            epsilon / 2,
            delta / 2,
            settings,
            random,
          );
          const count = noisy(rows.length, 1, epsilon / 2, delta / 2, settings, random);
          return { group, value: clamp(mid + centred.value / Math.max(1, count.value), lo, hi) };
        }),
      );
    }
    case "histogram": {
      const name = query.column as string;
      const bins = settings.domains.has(name) ? groupRows(table, name, settings) : numericBins(table, name, settings);
      return release(bins.map(({ group, rows }) => answer(group, noisy(rows.length, 1, epsilon, delta, settings, random))));
    }
    case "quantile":
    case "median": {
      const values = numbers(table, query.column as string);
      const [lo, hi] = boundsOf(settings, query.column as string, "a quantile");
      return release(
        groups.map(({ group, rows }) => ({
          group,
          value: dpQuantile(
            rows.map((i) => values[i]),
            query.p as number,
            lo,
            hi,
            epsilon,
            random,
          ),
        })),
      );
    }
  }
}

function answer(group: string | undefined, n: { value: number; std: number; error95: number }): ReleasedValue {
  return { group, value: n.value, noiseStd: n.std, error95: n.error95 };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Equal-width bins over the declared bounds; values outside are clamped into the end bins. */
function numericBins(table: Table, name: string, settings: QuerySettings): { group: string; rows: number[] }[] {
  const values = numbers(table, name);
  const [lo, hi] = boundsOf(settings, name, "a histogram");
  const count = settings.bins ?? 10;
  if (!(Number.isInteger(count) && count >= 1)) throw new AegisError("BAD_OPTION", `--bins must be a whole number ≥ 1, not ${count}`);
  const width = (hi - lo) / count;
  const bins = Array.from({ length: count }, (_, b) => ({
    group: `[${lo + b * width}, ${lo + (b + 1) * width}${b === count - 1 ? "]" : ")"}`,
    rows: [] as number[],
  }));
  values.forEach((v, i) => {
    bins[Math.min(count - 1, Math.max(0, Math.floor((v - lo) / width)))].rows.push(i);
  });
  return bins;
}
