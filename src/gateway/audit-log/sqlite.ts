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
      for (const [i, p] of batch.entries()) p.resolve(seqs[i]);
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }

  *entries(): Generator<ChainedEntry> {
    yield* this.db.prepare("SELECT seq, time, data, prev, hash FROM audit_log ORDER BY seq").iterate() as Iterable<ChainedEntry>;
  }

  /** What the dashboard shows of the last minutes: request rate, refusals by reason, top clients, detector alarms. */
  overview(since: string) {
    const q = <T>(sql: string) => this.db.prepare(sql).all(since) as T[];
    const decisions = "FROM audit_log, json_each(json_extract(audit_log.data, '$.decisions')) d WHERE time >= ?";
    return {
      // 10-second buckets: the ISO time cut after the tens of seconds.
      rate: q<{ bucket: string; requests: number }>(
        "SELECT substr(time, 1, 18) AS bucket, count(*) AS requests FROM audit_log WHERE time >= ? GROUP BY bucket ORDER BY bucket",
      ),
      statuses: q<{ status: number; requests: number }>(
        "SELECT json_extract(data, '$.status') AS status, count(*) AS requests FROM audit_log WHERE time >= ? GROUP BY status ORDER BY status",
      ),
      refusals: q<{ control: string; reason: string; requests: number }>(
        `SELECT json_extract(d.value, '$.control') AS control, json_extract(d.value, '$.reason') AS reason, count(*) AS requests ${decisions} AND json_extract(d.value, '$.action') IN ('block', 'throttle') GROUP BY control, reason ORDER BY requests DESC`,
      ),
      topClients: q<{ client: string; requests: number; refused: number }>(
        "SELECT coalesce(json_extract(data, '$.client'), 'anonymous') AS client, count(*) AS requests, sum(json_extract(data, '$.status') >= 400) AS refused FROM audit_log WHERE time >= ? GROUP BY client ORDER BY requests DESC LIMIT 10",
      ),
      alarms: q<{ time: string; control: string; client: string; route: string }>(
        `SELECT time, json_extract(d.value, '$.control') AS control, coalesce(json_extract(data, '$.client'), 'anonymous') AS client, json_extract(data, '$.route') AS route ${decisions} AND json_extract(d.value, '$.action') = 'flag' ORDER BY seq DESC LIMIT 50`,
      ),
    };
  }

  /** Newest entries whose content contains the text (client id, route, status, reason…). */
  search(text: string, limit = 100): { seq: number; time: string; entry: Record<string, unknown> }[] {
    const rows = this.db.prepare("SELECT seq, time, data FROM audit_log WHERE instr(data, ?) > 0 ORDER BY seq DESC LIMIT ?").all(text, limit) as {
      seq: number;
      time: string;
      data: string;
    }[];
    return rows.map((r) => ({ seq: r.seq, time: r.time, entry: JSON.parse(r.data) as Record<string, unknown> }));
  }

  verify() {
    return verifyChain(this.entries());
  }

  close(): void {
    this.db.close();
  }
}
