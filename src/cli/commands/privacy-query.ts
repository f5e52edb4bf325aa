/** `aegis privacy query` and `aegis privacy ledger`: DP analytics over a CSV or npz, spent from a per-dataset budget ledger. */
import { Command } from "commander";
import { AegisError } from "../../errors.js";
import {
  BudgetLedger,
  GAUSSIAN_CALIBRATIONS,
  type GaussianCalibration,
  type LedgerStatus,
  type PlannedQuery,
  parseQuery,
  type Release,
  readQueryFile,
  releaseQueries,
} from "../../privacy/index.js";
import { info, printJson } from "../common.js";
import { parseInteger, parseNumber, withJson } from "../options.js";

interface QueryOptions {
  data: string;
  epsilon?: number;
  file?: string;
  mechanism: string;
  delta?: number;
  calibration: string;
  bounds: string[];
  domain: string[];
  bins?: number;
  ledger?: string;
  budget?: number;
  budgetDelta: number;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function queryCommand(): Command {
  const cmd = new Command("query")
    .description(
      "answer count, sum, mean, histogram or quantile queries over a CSV or npz with differential privacy (Laplace, analytic Gaussian or exponential mechanism), spending ε from the dataset's budget ledger",
    )
    .argument("[query]", 'count(), sum(col), mean(col), histogram(col), quantile(col, p), median(col), each optionally "by col" (or --file)')
    .requiredOption("--data <file>", "a CSV with a header row, or an .npz with one 1-D array per column")
    .option("--epsilon <eps>", "ε this query spends", parseNumber("--epsilon"))
    .option("--file <yaml>", "a YAML file of queries, each with its ε, and shared bounds and domains (README); all released or none")
    .option("--mechanism <name>", "laplace | gaussian (quantiles always use the exponential mechanism)", "laplace")
    .option("--delta <delta>", "gaussian: δ this query spends", parseNumber("--delta"))
    .option("--calibration <name>", `gaussian: ${GAUSSIAN_CALIBRATIONS.join(" | ")} (Balle & Wang 2018; or Dwork & Roth's, ε < 1 only)`, "analytic")
    .option("--bounds <col=LOW:HIGH>", "clamp a column to [LOW, HIGH] (needed for sum, mean, quantile, numeric histogram); repeatable", collect, [])
    .option("--domain <col=A,B,…>", "declare a column's groups (needed for by and categorical histograms); repeatable", collect, [])
    .option("--bins <n>", "bins of a numeric histogram over its bounds (default 10)", parseInteger("--bins", 1))
    .option("--ledger <file>", "the dataset's budget ledger, SQLite (default: <data>.dp-ledger.sqlite beside the data)")
    .option("--budget <eps>", "total ε of the dataset, when the ledger is created", parseNumber("--budget"))
    .option("--budget-delta <delta>", "total δ of the dataset, when the ledger is created", parseNumber("--budget-delta"), 0);
  withJson(cmd, "the release");
  return cmd.action((text: string | undefined, opts: QueryOptions) => {
    if (!GAUSSIAN_CALIBRATIONS.includes(opts.calibration as GaussianCalibration))
      throw new AegisError("BAD_OPTION", `--calibration must be one of ${GAUSSIAN_CALIBRATIONS.join(", ")}, not "${opts.calibration}"`);
    const file = opts.file === undefined ? undefined : readQueryFile(opts.file);
    const plans = file ? file.queries : [commandLineQuery(text, opts)];
    if (file && (text !== undefined || opts.epsilon !== undefined || opts.delta !== undefined))
      throw new AegisError("BAD_OPTION", "give a query with --epsilon, or --file with the queries and their ε, not both");
    const bounds = new Map([...(file?.bounds ?? []), ...opts.bounds.map(parseBounds)]);
    const domains = new Map<string, readonly string[]>([...(file?.domains ?? []), ...opts.domain.map(parseDomain)]);
    const outcome = releaseQueries({
      data: opts.data,
      ledger: opts.ledger,
      budget: opts.budget === undefined ? undefined : { epsilon: opts.budget, delta: opts.budgetDelta },
      queries: plans,
      bounds,
      domains,
      bins: opts.bins ?? file?.bins,
      calibration: opts.calibration as GaussianCalibration,
    });
    const { releases, ledger, spent, budget } = outcome;
    if (opts.json) return printJson(file ? outcome : { ...releases[0], ledger, spent, budget });
    process.stdout.write(`${releases.map(releaseText).join("\n")}\n`);
    const seqs = releases.map((r) => `#${r.release}`).join(", ");
    info(
      `release${releases.length > 1 ? "s" : ""} ${seqs} recorded in ${ledger}: spent ε ${round(spent.epsilon)} of ${budget.epsilon}${budget.delta > 0 ? `, δ ${spent.delta} of ${budget.delta}` : ""}`,
    );
  });
}

/** The one query of the command line, with its ε and mechanism. */
function commandLineQuery(text: string | undefined, opts: QueryOptions): PlannedQuery {
  if (text === undefined) throw new AegisError("BAD_OPTION", 'give a query, e.g. "mean(age) by region", or --file with a list of them');
  const query = parseQuery(text);
  if (opts.epsilon === undefined) throw new AegisError("BAD_OPTION", "give --epsilon, the ε this query spends from the dataset's budget");
  if (opts.mechanism !== "laplace" && opts.mechanism !== "gaussian")
    throw new AegisError("BAD_OPTION", `--mechanism must be laplace or gaussian, not "${opts.mechanism}"`);
  if (opts.mechanism === "laplace" && opts.delta !== undefined)
    throw new AegisError("BAD_OPTION", "--delta is for --mechanism gaussian; the Laplace mechanism spends ε only");
  return { query, epsilon: opts.epsilon, mechanism: opts.mechanism, delta: opts.delta };
}

export function ledgerCommand(): Command {
  const cmd = new Command("ledger")
    .description("show a dataset's privacy budget ledger: its budget, what is spent, and every release (the audit trail)")
    .argument("<ledger>", "the ledger file (aegis privacy query writes <data>.dp-ledger.sqlite)");
  withJson(cmd, "the ledger");
  return cmd.action((path: string, opts: { json?: boolean }) => {
    const ledger = BudgetLedger.read(path);
    try {
      const status = ledger.status();
      if (opts.json) return printJson(status);
      process.stdout.write(`${ledgerText(status)}\n`);
    } finally {
      ledger.close();
    }
  });
}

function parseBounds(spec: string): [string, readonly [number, number]] {
  const match = /^([^=]+)=([^:]+):(.+)$/.exec(spec);
  const low = Number(match?.[2]);
  const high = Number(match?.[3]);
  if (!match || !Number.isFinite(low) || !Number.isFinite(high) || !(low < high))
    throw new AegisError("BAD_OPTION", `--bounds takes COLUMN=LOW:HIGH with finite LOW < HIGH, e.g. --bounds age=0:100, not "${spec}"`);
  return [match[1].trim(), [low, high]];
}

function parseDomain(spec: string): [string, string[]] {
  const match = /^([^=]+)=(.+)$/.exec(spec);
  const groups = match?.[2].split(",").map((g) => g.trim()) ?? [];
  if (!match || groups.some((g) => g === "") || new Set(groups).size !== groups.length)
    throw new AegisError("BAD_OPTION", `--domain takes COLUMN=A,B,C with distinct non-empty groups, e.g. --domain region=north,south, not "${spec}"`);
  return [match[1].trim(), groups];
}

function round(v: number): string {
  return Number(v.toPrecision(6)).toString();
}

function releaseText(r: Release): string {
  const cost = `ε ${r.epsilon}${r.delta > 0 ? `, δ ${r.delta}` : ""}`;
  const rows = r.values.map((v) => {
    const error = v.error95 === undefined ? "" : `  (± ${round(v.error95)} at 95%)`;
    return `  ${v.group === undefined ? "" : `${v.group}: `}${round(v.value)}${error}`;
  });
  return [`${r.query}  [${r.mechanism}, ${cost}]`, ...rows].join("\n");
}

function ledgerText(s: LedgerStatus): string {
  const lines = [
    `${s.dataset}: budget ε ${s.budget.epsilon}, δ ${s.budget.delta}; spent ε ${round(s.spent.epsilon)}, δ ${s.spent.delta} in ${s.releases.length} releases`,
  ];
  for (const r of s.releases)
    lines.push(`  #${r.seq} ${r.time} ${r.query} [${r.mechanism}, ε ${r.epsilon}${r.delta > 0 ? `, δ ${r.delta}` : ""}] data ${r.dataSha256.slice(0, 12)}`);
  return lines.join("\n");
}
