/**
 * Incidents in SQLite, beside the audit log in the same file: one row per incident with
 * its timeline (opened, each further detection, actions taken, resolved), so an
 * operator can see what happened in order and `aegis incidents resolve` can lift a block.
 */
import Database from "better-sqlite3";
import { AegisError } from "../../errors.js";

export type IncidentAction = "block" | "throttle" | "degrade" | "alert";

export interface TimelineEvent {
  time: string;
  event: string;
  detail?: string;
}

export interface Incident {
  id: number;
  openedAt: string;
  client: string;
  route: string;
  detector: string;
  action: IncidentAction;
  /** When the action stops applying on its own (ISO time), if it does. */
  until?: string;
  status: "open" | "resolved";
  resolvedAt?: string;
  timeline: TimelineEvent[];
}

/** An incident as both stores keep it: one row, the timeline as JSON text. */
export interface IncidentRow {
  id: number;
  opened_at: string;
  client: string;
  route: string;
  detector: string;
  action: IncidentAction;
  until: string | null;
  status: "open" | "resolved";
  resolved_at: string | null;
  timeline: string;
}

export class IncidentStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    try {
      this.db = new Database(path);
    } catch (e) {
      throw new AegisError("FILE_NOT_FOUND", `cannot open the incident store ${path} (${(e as Error).message})`, { cause: e });
    }
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(`CREATE TABLE IF NOT EXISTS incidents (
      id INTEGER PRIMARY KEY AUTOINCREMENT, opened_at TEXT NOT NULL, client TEXT NOT NULL, route TEXT NOT NULL,
      detector TEXT NOT NULL, action TEXT NOT NULL, until TEXT, status TEXT NOT NULL, resolved_at TEXT, timeline TEXT NOT NULL)`);
  }

  open(fields: Pick<Incident, "client" | "route" | "detector" | "action" | "until">, first: TimelineEvent): Incident {
    const info = this.db
      .prepare("INSERT INTO incidents (opened_at, client, route, detector, action, until, status, timeline) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)")
      .run(first.time, fields.client, fields.route, fields.detector, fields.action, fields.until ?? null, JSON.stringify([first]));
    return this.get(Number(info.lastInsertRowid)) as Incident;
  }

  /** The open incident of a client for one detector, to which repeated detections are added. */
  findOpen(client: string, detector: string): Incident | undefined {
    const row = this.db
      .prepare("SELECT * FROM incidents WHERE client = ? AND detector = ? AND status = 'open' ORDER BY id DESC LIMIT 1")
      .get(client, detector) as IncidentRow | undefined;
    return row && fromRow(row);
  }

  addEvent(id: number, event: TimelineEvent, until?: string): void {
    const incident = this.get(id);
    if (!incident) return;
    incident.timeline.push(event);
    this.db.prepare("UPDATE incidents SET timeline = ?, until = COALESCE(?, until) WHERE id = ?").run(JSON.stringify(incident.timeline), until ?? null, id);
  }

  resolve(id: number, by: string, time = new Date().toISOString()): Incident {
    const incident = this.get(id);
    if (!incident) throw noIncident(id);
    if (incident.status === "resolved") return incident;
    incident.timeline.push({ time, event: "resolved", detail: by });
    this.db.prepare("UPDATE incidents SET status = 'resolved', resolved_at = ?, timeline = ? WHERE id = ?").run(time, JSON.stringify(incident.timeline), id);
    return this.get(id) as Incident;
  }

  get(id: number): Incident | undefined {
    const row = this.db.prepare("SELECT * FROM incidents WHERE id = ?").get(id) as IncidentRow | undefined;
    return row && fromRow(row);
  }

  list(options: { status?: "open" | "resolved" } = {}): Incident[] {
    const rows = (
      options.status
        ? this.db.prepare("SELECT * FROM incidents WHERE status = ? ORDER BY id").all(options.status)
        : this.db.prepare("SELECT * FROM incidents ORDER BY id").all()
    ) as IncidentRow[];
    return rows.map(fromRow);
  }

  close(): void {
    this.db.close();
  }
}

/** An incident number as an operator types it (CLI argument, dashboard URL): 1, 2, 3… */
export function parseIncidentId(text: string): number {
  const trimmed = text.trim();
  // 15 digits keep every id a safe integer, so "999999999999999999999" is not read as 1e+21.
  if (!/^[1-9]\d{0,14}$/.test(trimmed)) {
    const shown = trimmed.length > 24 ? `${trimmed.slice(0, 24)}…` : trimmed;
    throw new AegisError("BAD_OPTION", `"${shown}" is not an incident number; incidents are numbered 1, 2, 3…, and \`aegis incidents list\` shows them`);
  }
  return Number(trimmed);
}

export function noIncident(id: number): AegisError {
  return new AegisError("NOT_FOUND", `there is no incident #${id}; \`aegis incidents list\` shows them`);
}

export function fromRow(r: IncidentRow): Incident {
  return {
    id: r.id,
    openedAt: r.opened_at,
    client: r.client,
    route: r.route,
    detector: r.detector,
    action: r.action,
    ...(r.until ? { until: r.until } : {}),
    status: r.status,
    ...(r.resolved_at ? { resolvedAt: r.resolved_at } : {}),
    timeline: JSON.parse(r.timeline) as TimelineEvent[],
  };
}
