/**
 * One call of DP analytics: read the table, open its budget ledger (ledger.ts), and answer
 * the queries (queries.ts) inside one ledger transaction, so they are all released and
 * recorded, or all refused with nothing released. Noise from the operating system's entropy.
 */
import type { GaussianCalibration } from "./gaussian.js";
import { BudgetLedger, type LedgerBudget } from "./ledger.js";
import { answerQuery, type Release, releaseMechanism } from "./queries.js";
import type { PlannedQuery } from "./query-file.js";
import { SecureRandom } from "./secure-random.js";
import { loadTable } from "./table.js";

export interface ReleaseRequest {
  /** A CSV or npz file. */
  data: string;
  /** Default: `<data>.dp-ledger.sqlite`. */
  ledger?: string;
  /** The dataset's total budget, when the ledger is created (an existing ledger keeps its own). */
  budget?: LedgerBudget;
  queries: readonly PlannedQuery[];
  bounds: ReadonlyMap<string, readonly [number, number]>;
  domains: ReadonlyMap<string, readonly string[]>;
  bins?: number;
  calibration?: GaussianCalibration;
}

export interface ReleaseOutcome {
  /** Each release with its sequence number in the ledger. */
  releases: (Release & { release: number })[];
  ledger: string;
  spent: LedgerBudget;
  budget: LedgerBudget;
}

export function releaseQueries(r: ReleaseRequest): ReleaseOutcome {
  const { table, sha256 } = loadTable(r.data);
  const path = r.ledger ?? `${r.data}.dp-ledger.sqlite`;
  const ledger = BudgetLedger.open(path, table.name, r.budget);
  try {
    const random = SecureRandom.fromEntropy();
    const requests = r.queries.map((q) => {
      const mechanism = releaseMechanism(q.query, q.mechanism);
      return { query: q.query.text, mechanism, epsilon: q.epsilon, delta: mechanism === "exponential" ? 0 : (q.delta ?? 0), dataSha256: sha256 };
    });
    const { results, seqs, spent, budget } = ledger.spend(requests, () =>
      r.queries.map((q) =>
        answerQuery(
          table,
          q.query,
          { epsilon: q.epsilon, mechanism: q.mechanism, delta: q.delta, calibration: r.calibration, bounds: r.bounds, domains: r.domains, bins: r.bins },
          random,
        ),
      ),
    );
    return { releases: results.map((release, i) => ({ ...release, release: seqs[i] })), ledger: path, spent, budget };
  } finally {
    ledger.close();
  }
}
