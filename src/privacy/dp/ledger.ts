/**
 * The privacy budget ledger of one dataset, in SQLite (better-sqlite3, WAL): the dataset's
 * total (ε, δ) budget, set when the ledger is created, and every release made from it: time,
 * query, mechanism, (ε, δ) spent, the SHA-256 of the data it was computed on, and what was
 * released. Budgets compose by addition (basic composition), the bound that holds for any
 * mix of mechanisms. A release happens inside one IMMEDIATE transaction that checks the
 * remaining budget, computes the answer and records it, so two processes cannot both spend
 * the last of a budget, and an answer is never returned without its record. Nothing here
 * deletes or updates a release.
 */
import Database from "better-sqlite3";
import { AegisError } from "../../errors.js";

export interface LedgerBudget {
  epsilon: number;
  delta: number;
}

export interface LedgerRelease {
  seq: number;
  time: string;
  query: string;
  mechanism: string;
  epsilon: number;
  delta: number;
  dataSha256: string;
  /** What was released, as JSON. */
  result: string;
}

export interface LedgerRequest {
  query: string;
  mechanism: string;
  epsilon: number;
  delta: number;
  dataSha256: string;
}

export interface LedgerStatus {
  dataset: string;
  budget: LedgerBudget;
  spent: LedgerBudget;
  releases: LedgerRelease[];
}

/** Slack for floating-point sums of ε (ten releases of 0.1 must fit a budget of 1). */
const SLACK = 1e-9;

export class BudgetLedger {
  private readonly db: Database.Database;

  private constructor(
    readonly path: string,
    db: Database.Database,
  ) {
    this.db = db;
  }

  /**
   * Opens the ledger at `path`, creating it with `budget` for `dataset` if it does not exist.
   * A budget given for an existing ledger must equal the recorded one: budgets are not raised.
   */
  static open(path: string, dataset: string, budget?: LedgerBudget): BudgetLedger {
    let db: Database.Database;
    try {
      db = new Database(path);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.exec(`CREATE TABLE IF NOT EXISTS budget (dataset TEXT NOT NULL, epsilon REAL NOT NULL, delta REAL NOT NULL, created TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS releases (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, query TEXT NOT NULL, mechanism TEXT NOT NULL,
          epsilon REAL NOT NULL, delta REAL NOT NULL, data_sha256 TEXT NOT NULL, result TEXT NOT NULL);`);
    } catch (e) {
      throw new AegisError("BAD_DATA", `cannot open the privacy ledger ${path} (${(e as Error).message}); give another file with --ledger`, { cause: e });
    }
    const ledger = new BudgetLedger(path, db);
    db.transaction(() => {
      const recorded = ledger.budgetRow();
      if (!recorded) {
        if (!budget)
          throw new AegisError(
            "BAD_OPTION",
            `${path} is a new ledger: set the dataset's total budget with --budget ε (and --budget-delta δ for Gaussian releases)`,
          );
        checkBudget(budget);
        db.prepare("INSERT INTO budget (dataset, epsilon, delta, created) VALUES (?, ?, ?, ?)").run(
          dataset,
          budget.epsilon,
          budget.delta,
          new Date().toISOString(),
        );
      } else if (budget && (budget.epsilon !== recorded.epsilon || budget.delta !== recorded.delta)) {
        throw new AegisError(
          "BAD_OPTION",
          `the ledger ${path} holds a budget of ε ${recorded.epsilon}, δ ${recorded.delta} for ${recorded.dataset}; a budget is set once, when the ledger is created: leave --budget out`,
        );
      }
    }).immediate();
    return ledger;
  }

  /** Opens an existing ledger read-only, to show its budget and releases. */
  static read(path: string): BudgetLedger {
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (e) {
      throw new AegisError(
        "FILE_NOT_FOUND",
        `cannot open the privacy ledger ${path} (${(e as Error).message}); aegis privacy query creates one beside the data (D.csv.dp-ledger.sqlite)`,
        { cause: e },
      );
    }
    const ledger = new BudgetLedger(path, db);
    let tables = 0;
    try {
      tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('budget', 'releases')").all().length;
    } catch {
      // Not an SQLite file at all: reported below like any other file that is not a ledger.
    }
    if (tables !== 2 || !ledger.budgetRow()) {
      db.close();
      throw new AegisError(
        "BAD_DATA",
        `${path} is not an Aegis privacy ledger (no budget and releases tables); aegis privacy query writes them as <data>.dp-ledger.sqlite`,
      );
    }
    return ledger;
  }

  private budgetRow(): { dataset: string; epsilon: number; delta: number } | undefined {
    return this.db.prepare("SELECT dataset, epsilon, delta FROM budget LIMIT 1").get() as { dataset: string; epsilon: number; delta: number } | undefined;
  }

  private spentNow(): LedgerBudget {
    const row = this.db.prepare("SELECT COALESCE(SUM(epsilon), 0) AS epsilon, COALESCE(SUM(delta), 0) AS delta FROM releases").get() as LedgerBudget;
    return row;
  }

  status(): LedgerStatus {
    const row = this.budgetRow() as { dataset: string; epsilon: number; delta: number };
    const releases = this.db
      .prepare("SELECT seq, time, query, mechanism, epsilon, delta, data_sha256 AS dataSha256, result FROM releases ORDER BY seq")
      .all() as LedgerRelease[];
    return { dataset: row.dataset, budget: { epsilon: row.epsilon, delta: row.delta }, spent: this.spentNow(), releases };
  }

  /**
   * Spends (ε, δ) on releases: refuses them all if together they would exceed the budget,
   * else computes them with `compute` (one result per request) and records each, all in one
   * transaction (an exception spends nothing).
   */
  spend<T>(requests: readonly LedgerRequest[], compute: () => T[]): { results: T[]; seqs: number[]; spent: LedgerBudget; budget: LedgerBudget } {
    return this.db
      .transaction(() => {
        const row = this.budgetRow() as { epsilon: number; delta: number };
        const spent = this.spentNow();
        const left = { epsilon: row.epsilon - spent.epsilon, delta: row.delta - spent.delta };
        const asked = { epsilon: requests.reduce((a, q) => a + q.epsilon, 0), delta: requests.reduce((a, q) => a + q.delta, 0) };
        if (asked.epsilon > left.epsilon + SLACK || asked.delta > left.delta + SLACK * row.delta) {
          const what = requests.length === 1 ? `"${requests[0].query}"` : `these ${requests.length} queries`;
          throw new AegisError(
            "POLICY_FAILED",
            `refused: ${what} need${requests.length === 1 ? "s" : ""} ε ${remaining(asked.epsilon)}${asked.delta > 0 ? `, δ ${asked.delta}` : ""} but the dataset's budget (ε ${row.epsilon}, δ ${row.delta}) has ε ${remaining(left.epsilon)}, δ ${remaining(left.delta)} left after ${this.count()} releases; nothing was released. Ask for less, or stop: what is spent cannot be refunded`,
          );
        }
        const results = compute();
        const insert = this.db.prepare("INSERT INTO releases (time, query, mechanism, epsilon, delta, data_sha256, result) VALUES (?, ?, ?, ?, ?, ?, ?)");
        const time = new Date().toISOString();
        const seqs = requests.map((q, i) =>
          Number(insert.run(time, q.query, q.mechanism, q.epsilon, q.delta, q.dataSha256, JSON.stringify(results[i])).lastInsertRowid),
        );
        return {
          results,
          seqs,
          spent: { epsilon: spent.epsilon + asked.epsilon, delta: spent.delta + asked.delta },
          budget: { epsilon: row.epsilon, delta: row.delta },
        };
      })
      .immediate();
  }

  private count(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM releases").get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}

function checkBudget(b: LedgerBudget): void {
  if (!(b.epsilon > 0 && Number.isFinite(b.epsilon))) throw new AegisError("BAD_OPTION", `--budget must be a positive ε, not ${b.epsilon}`);
  if (!(b.delta >= 0 && b.delta < 1)) throw new AegisError("BAD_OPTION", `--budget-delta must be in [0, 1), not ${b.delta}`);
}

function remaining(v: number): string {
  return Number(Math.max(0, v).toPrecision(4)).toString();
}
