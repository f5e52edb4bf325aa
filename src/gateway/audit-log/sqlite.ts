/**
 * The audit log in SQLite (better-sqlite3): append-only by use, WAL journal with
 * synchronous=NORMAL, so a committed entry survives the process being killed (-9): it is
 * in the WAL before the response that it records is sent. One writer per file keeps the
 * chain; several gateway instances share PostgreSQL instead.
 */
import Database from "better-sqlite3";
import { AegisError } from "../../errors.js";
import { type ChainedEntry, entryHash, GENESIS, verifyChain } from "./chain.js";

export class SqliteAuditLog {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private lastSeq: number;
  private lastHash: string;
  private pending: { record: object; time: string; resolve(seq: number): void; reject(e: unknown): void }[] = [];
  private readonly writeBatch: (batch: { record: object; time: string }[]) => number[];

  /** `readonly` opens an existing log for verification or export without touching it. */
  constructor(
    readonly path: string,
    options: { readonly?: boolean } = {},
  ) {
    try {
      this.db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    } catch (e) {
      throw new AegisError("FILE_NOT_FOUND", `cannot open the audit log ${path} (${(e as Error).message})`, { cause: e });
    }
    if (options.readonly) {
      if (!this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get()) {
        throw new AegisError("BAD_DATA", `${path} is an SQLite file but not an Aegis audit log (no audit_log table)`);
      }
    } else {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.db.exec(
        "CREATE TABLE IF NOT EXISTS audit_log (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, data TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL)",
      );
    }
    this.insert = this.db.prepare("INSERT INTO audit_log (seq, time, data, prev, hash) VALUES (?, ?, ?, ?, ?)");
    const last = this.db.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string } | undefined;
    this.lastSeq = last?.seq ?? 0;
    this.lastHash = last?.hash ?? GENESIS;
    this.writeBatch = this.db.transaction((batch: { record: object; time: string }[]) => batch.map((e) => this.append(e.record, e.time)));
  }

  /** Appends one entry (any JSON-serialisable record) and returns its sequence number. */
  append(record: object, time = new Date().toISOString()): number {
    const seq = this.lastSeq + 1;
    const data = JSON.stringify(record);
    const hash = entryHash(seq, time, data, this.lastHash);
    this.insert.run(seq, time, data, this.lastHash, hash);
    this.lastSeq = seq;
    this.lastHash = hash;
    return seq;
  }

  /**
   * Group commit: entries appended while the event loop is busy are written in one
   * transaction at the next turn, and each promise resolves once its entry is committed.
   * A response waits for its entry, so "nothing answered is lost" still holds, at a
   * fraction of the cost of one transaction per request.
   */
  appendCommitted(record: object): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, time: new Date().toISOString(), resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    try {
      const seqs = this.writeBatch(batch);
      batch.forEach((p, i) => p.resolve(seqs[i]));
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }

  *entries(): Generator<ChainedEntry> {
    yield* this.db.prepare("SELECT seq, time, data, prev, hash FROM audit_log ORDER BY seq").iterate() as Iterable<ChainedEntry>;
  }

  verify() {
    return verifyChain(this.entries());
  }

  close(): void {
    this.db.close();
  }
}
