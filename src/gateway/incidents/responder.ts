/**
 * Incident response: rules map a detector's alarm to an action on the client — block it
 * or throttle it for a period, degrade what it sees (labels only, as PRADA's authors
 * propose against extraction, or shuffled top-k), or only alert — and every incident is recorded with its
 * timeline and announced to a webhook in Slack's JSON format. Open incidents are re-read
 * from the store every second, so `aegis incidents resolve` in another process, or a
 * block set by another instance, applies to every running instance without a restart.
 */
import type { Incident, IncidentAction, TimelineEvent } from "./store.js";

export interface IncidentRule {
  /** Detector name as configured on the route, e.g. "prada", "stateful-knn". */
  detector: string;
  action: IncidentAction;
  /** How long block, throttle and degrade last; forever (until resolved) when absent. */
  durationSeconds?: number;
  /** What a degraded client sees: the top label only (default), or the top k probabilities dealt to the top k classes in random order. */
  degradeTo?: { output: "labels-only" } | { output: "shuffled-top-k"; k: number };
}

export interface Detection {
  client: string;
  route: string;
  detector: string;
  detail: string;
}

export interface ClientStatus {
  blocked?: Incident;
  throttled?: Incident;
  degraded?: Incident;
}

const REFRESH_MS = 1000;
const REPEAT_NOTE_MS = 60_000;

/** Where incidents live: SQLite beside the audit log (one instance) or PostgreSQL (several). */
export interface IncidentStoreLike {
  open(fields: Pick<Incident, "client" | "route" | "detector" | "action" | "until">, first: TimelineEvent): Incident | Promise<Incident>;
  findOpen(client: string, detector: string): Incident | undefined | Promise<Incident | undefined>;
  addEvent(id: number, event: TimelineEvent, until?: string): void | Promise<void>;
  resolve(id: number, by: string): Incident | Promise<Incident>;
  get(id: number): Incident | undefined | Promise<Incident | undefined>;
  list(options?: { status?: "open" | "resolved" }): Incident[] | Promise<Incident[]>;
}

export class IncidentResponder {
  private active = new Map<string, Incident[]>();
  /** When each open incident last recorded a repeated detection. */
  private readonly lastRepeat = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: IncidentStoreLike,
    private readonly rules: readonly IncidentRule[],
    private readonly options: { webhook?: string; now?: () => number; log?: (message: string) => void; onOpened?: (incident: Incident) => void } = {},
  ) {
    // Requests read the cache; the store is read in the background, so a block set or lifted
    // by another instance or by `aegis incidents resolve` applies within a second.
    this.timer = setInterval(() => void this.refresh().catch((e: Error) => this.options.log?.(`incidents: ${e.message}`)), REFRESH_MS);
    this.timer.unref();
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Loads the open incidents; called at start, on a timer, and after this instance changes one. */
  async refresh(): Promise<void> {
    const active = new Map<string, Incident[]>();
    for (const incident of await this.store.list({ status: "open" })) {
      if (incident.action === "alert") continue;
      const list = active.get(incident.client) ?? [];
      list.push(incident);
      active.set(incident.client, list);
    }
    this.active = active;
    const open = new Set([...active.values()].flat().map((i) => i.id));
    for (const id of this.lastRepeat.keys()) if (!open.has(id)) this.lastRepeat.delete(id);
  }

  /** Records a detection: opens an incident (or adds to the client's open one) and applies the rule. */
  async detect(d: Detection): Promise<Incident> {
    const rule = this.rules.find((r) => r.detector === d.detector) ?? { detector: d.detector, action: "alert" as const };
    const time = new Date(this.now()).toISOString();
    const until = rule.durationSeconds === undefined || rule.action === "alert" ? undefined : new Date(this.now() + rule.durationSeconds * 1000).toISOString();
    const existing = await this.store.findOpen(d.client, d.detector);
    if (existing) {
      // A detector keeps alarming on every request of a flagged client; one timeline entry
      // (and one extension of the action) a minute keeps a busy attacker from growing the
      // incident and the store's work without bound.
      const last = this.lastRepeat.get(existing.id);
      if (last !== undefined && this.now() - last < REPEAT_NOTE_MS) return existing;
      this.lastRepeat.set(existing.id, this.now());
      await this.store.addEvent(existing.id, { time, event: "detected again", detail: d.detail }, until);
      await this.refresh();
      return (await this.store.get(existing.id)) as Incident;
    }
    const incident = await this.store.open(
      { client: d.client, route: d.route, detector: d.detector, action: rule.action, until },
      { time, event: "opened", detail: `${d.detector} on ${d.route}: ${d.detail}` },
    );
    await this.store.addEvent(incident.id, { time, event: `action: ${rule.action}`, detail: until ? `until ${until}` : undefined });
    await this.refresh();
    this.options.onOpened?.(incident);
    if (this.options.webhook) await this.alert(incident, rule);
    return (await this.store.get(incident.id)) as Incident;
  }

  /** An operator resolved an incident through this instance: apply it now rather than at the next refresh. */
  async resolve(id: number, by: string): Promise<Incident> {
    const incident = await this.store.resolve(id, by);
    await this.refresh();
    return incident;
  }

  async openIncidents(): Promise<Incident[]> {
    return this.store.list({ status: "open" });
  }

  /** What currently applies to a client. */
  status(client: string): ClientStatus {
    const now = new Date(this.now()).toISOString();
    const status: ClientStatus = {};
    for (const incident of this.active.get(client) ?? []) {
      if (incident.until !== undefined && incident.until <= now) continue;
      if (incident.action === "block") status.blocked ??= incident;
      if (incident.action === "throttle") status.throttled ??= incident;
      if (incident.action === "degrade") status.degraded ??= incident;
    }
    return status;
  }

  /** Clients under a block right now (for the metrics). */
  blockedClients(): number {
    return [...this.active.keys()].filter((c) => this.status(c).blocked).length;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async alert(incident: Incident, rule: IncidentRule): Promise<void> {
    const text = `Aegis incident #${incident.id}: ${incident.detector} flagged ${incident.client} on ${incident.route}; action ${rule.action}${incident.until ? ` until ${incident.until}` : ""}.`;
    const time = new Date(this.now()).toISOString();
    try {
      const res = await fetch(this.options.webhook as string, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text }),
        signal: AbortSignal.timeout(5000),
      });
      this.store.addEvent(incident.id, {
        time,
        event: res.ok ? "alert sent" : "alert failed",
        detail: res.ok ? undefined : `webhook answered HTTP ${res.status}`,
      });
    } catch (e) {
      await this.store.addEvent(incident.id, { time, event: "alert failed", detail: (e as Error).message });
      this.options.log?.(`incident ${incident.id}: the webhook failed (${(e as Error).message})`);
    }
  }
}
