/**
 * The audit log and the incidents in PostgreSQL, for several guard instances. The hash
 * chain stays one chain across instances: each group commit takes a transaction-scoped
 * advisory lock, reads the head and appends after it, so entries of different instances
 * interleave without a fork. A response still waits for its entry's commit.
 */
import pg from "pg";
import { type ChainedEntry, entryHash, GENESIS, verifyChain } from "../audit-log/chain.js";
import { fromRow, type Incident, type IncidentRow, noIncident, type TimelineEvent } from "../incidents/store.js";

/** Any constant shared by every instance: the key of the audit log's advisory lock. */
const CHAIN_LOCK = 7_241_001;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS aegis_audit_log (seq BIGINT PRIMARY KEY, time TEXT NOT NULL, data TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aegis_incidents (
  id SERIAL PRIMARY KEY, opened_at TEXT NOT NULL, client TEXT NOT NULL, route TEXT NOT NULL, detector TEXT NOT NULL,
  action TEXT NOT NULL, until TEXT, status TEXT NOT NULL, resolved_at TEXT, timeline TEXT NOT NULL);`;

export async function connectPostgres(url: string): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  const client = await pool.connect();
  try {
    // Two instances starting together must not both create the tables.
    await client.query("SELECT pg_advisory_lock($1)", [CHAIN_LOCK + 1]);
    await client.query(SCHEMA);
    await client.query("SELECT pg_advisory_unlock($1)", [CHAIN_LOCK + 1]);
  } finally {
    client.release();
  }
  return pool;
}

interface Pending {
  record: object;
  time: string;
  resolve(seq: number): void;
  reject(e: unknown): void;
}

export class PgAuditLog {
  private pending: Pending[] = [];

  constructor(private readonly pool: pg.Pool) {}

  appendCommitted(record: object): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, time: new Date().toISOString(), resolve, reject });
      if (this.pending.length === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    const client = await this.pool.connect().catch((e: unknown) => {
      for (const p of batch) p.reject(e);
      return undefined;
    });
    if (!client) return;
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [CHAIN_LOCK]);
      const head = await client.query<{ seq: string; hash: string }>("SELECT seq, hash FROM aegis_audit_log ORDER BY seq DESC LIMIT 1");
      let seq = Number(head.rows[0]?.seq ?? 0);
      let prev = head.rows[0]?.hash ?? GENESIS;
      const values: unknown[] = [];
      const seqs: number[] = [];
      for (const p of batch) {
        seq++;
        const data = JSON.stringify(p.record);
        const hash = entryHash(seq, p.time, data, prev);
        values.push(seq, p.time, data, prev, hash);
        seqs.push(seq);
        prev = hash;
      }
      const rows = batch.map((_, i) => `($${5 * i + 1}, $${5 * i + 2}, $${5 * i + 3}, $${5 * i + 4}, $${5 * i + 5})`).join(", ");
      await client.query(`INSERT INTO aegis_audit_log (seq, time, data, prev, hash) VALUES ${rows}`, values);
      await client.query("COMMIT");
      for (const [i, p] of batch.entries()) p.resolve(seqs[i]);
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      for (const p of batch) p.reject(e);
    } finally {
      client.release();
    }
  }

  async entries(): Promise<ChainedEntry[]> {
    const r = await this.pool.query<{ seq: string; time: string; data: string; prev: string; hash: string }>(
      "SELECT seq, time, data, prev, hash FROM aegis_audit_log ORDER BY seq",
    );
    return r.rows.map((row) => ({ ...row, seq: Number(row.seq) }));
  }

  async verify() {
    return verifyChain(await this.entries());
  }

  async overview(since: string) {
    const q = async <T>(sql: string) => (await this.pool.query(sql, [since])).rows as T[];
    const decisions = "FROM aegis_audit_log, jsonb_array_elements((data::jsonb)->'decisions') d WHERE time >= $1";
    return {
      rate: await q<{ bucket: string; requests: number }>(
        "SELECT substr(time, 1, 18) AS bucket, count(*)::int AS requests FROM aegis_audit_log WHERE time >= $1 GROUP BY bucket ORDER BY bucket",
      ),
      statuses: await q<{ status: number; requests: number }>(
        "SELECT ((data::jsonb)->>'status')::int AS status, count(*)::int AS requests FROM aegis_audit_log WHERE time >= $1 GROUP BY status ORDER BY status",
      ),
      refusals: await q<{ control: string; reason: string; requests: number }>(
        `SELECT d->>'control' AS control, d->>'reason' AS reason, count(*)::int AS requests ${decisions} AND d->>'action' IN ('block', 'throttle') GROUP BY control, reason ORDER BY requests DESC`,
      ),
      topClients: await q<{ client: string; requests: number; refused: number }>(
        "SELECT coalesce((data::jsonb)->>'client', 'anonymous') AS client, count(*)::int AS requests, sum(CASE WHEN ((data::jsonb)->>'status')::int >= 400 THEN 1 ELSE 0 END)::int AS refused FROM aegis_audit_log WHERE time >= $1 GROUP BY client ORDER BY requests DESC LIMIT 10",
      ),
      alarms: await q<{ time: string; control: string; client: string; route: string }>(
        `SELECT time, d->>'control' AS control, coalesce((data::jsonb)->>'client', 'anonymous') AS client, (data::jsonb)->>'route' AS route ${decisions} AND d->>'action' = 'flag' ORDER BY seq DESC LIMIT 50`,
      ),
    };
  }

  async search(text: string, limit = 100) {
    const r = await this.pool.query<{ seq: string; time: string; data: string }>(
      "SELECT seq, time, data FROM aegis_audit_log WHERE strpos(data, $1) > 0 ORDER BY seq DESC LIMIT $2",
      [text, limit],
    );
    return r.rows.map((row) => ({ seq: Number(row.seq), time: row.time, entry: JSON.parse(row.data) as Record<string, unknown> }));
  }
}

export class PgIncidentStore {
  constructor(private readonly pool: pg.Pool) {}

  async open(fields: Pick<Incident, "client" | "route" | "detector" | "action" | "until">, first: TimelineEvent): Promise<Incident> {
    const r = await this.pool.query<IncidentRow>(
      "INSERT INTO aegis_incidents (opened_at, client, route, detector, action, until, status, timeline) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) RETURNING *",
      [first.time, fields.client, fields.route, fields.detector, fields.action, fields.until ?? null, JSON.stringify([first])],
    );
    return fromRow(r.rows[0]);
  }

  async findOpen(client: string, detector: string): Promise<Incident | undefined> {
    const r = await this.pool.query<IncidentRow>(
      "SELECT * FROM aegis_incidents WHERE client = $1 AND detector = $2 AND status = 'open' ORDER BY id DESC LIMIT 1",
      [client, detector],
    );
    return r.rows[0] && fromRow(r.rows[0]);
  }

  async addEvent(id: number, event: TimelineEvent, until?: string): Promise<void> {
    // Appended in SQL, so two instances adding events at once do not overwrite each other.
    await this.pool.query("UPDATE aegis_incidents SET timeline = ((timeline::jsonb) || $2::jsonb)::text, until = COALESCE($3, until) WHERE id = $1", [
      id,
      JSON.stringify([event]),
      until ?? null,
    ]);
  }

  async resolve(id: number, by: string, time = new Date().toISOString()): Promise<Incident> {
    await this.pool.query(
      "UPDATE aegis_incidents SET status = 'resolved', resolved_at = $2, timeline = ((timeline::jsonb) || $3::jsonb)::text WHERE id = $1 AND status = 'open'",
      [id, time, JSON.stringify([{ time, event: "resolved", detail: by }])],
    );
    const incident = await this.get(id);
    if (!incident) throw noIncident(id);
    return incident;
  }

  async get(id: number): Promise<Incident | undefined> {
    const r = await this.pool.query<IncidentRow>("SELECT * FROM aegis_incidents WHERE id = $1", [id]);
    return r.rows[0] && fromRow(r.rows[0]);
  }

  async list(options: { status?: "open" | "resolved" } = {}): Promise<Incident[]> {
    const r = options.status
      ? await this.pool.query<IncidentRow>("SELECT * FROM aegis_incidents WHERE status = $1 ORDER BY id", [options.status])
      : await this.pool.query<IncidentRow>("SELECT * FROM aegis_incidents ORDER BY id");
    return r.rows.map(fromRow);
  }
}
