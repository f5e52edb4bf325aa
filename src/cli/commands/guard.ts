/**
 * `aegis guard`, `aegis keys`, `aegis audit-log` and `aegis incidents`: run the gateway
 * from guard.yaml, manage its API keys, check or export its hash-chained audit log, and
 * review and resolve the incidents its detectors opened.
 */
import { createWriteStream, existsSync } from "node:fs";
import { Command } from "commander";
import { decryptBytes, type Identity, readKeyFile } from "../../encryption/index.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import type { IncidentStoreLike } from "../../gateway/index.js";
import {
  ALERT_DEFAULTS,
  alertRules,
  connectPostgres,
  createApiKey,
  grafanaDashboard,
  IncidentStore,
  loadGuardConfig,
  noIncident,
  PgAuditLog,
  PgIncidentStore,
  parseIncidentId,
  payloadName,
  readKeysFile,
  revokeApiKey,
  SqliteAuditLog,
  startGuard,
} from "../../gateway/index.js";
import { info, printJson } from "../common.js";
import { jsonOption, outOption, parseNumber } from "../options.js";

export function guardCommand(): Command {
  const cmd = new Command("guard")
    .description("run the security gateway in front of ML endpoints (see examples/guard.yaml); SIGHUP reloads the config")
    .requiredOption("--config <file>", "guard.yaml")
    .option("--log-level <level>", "request log on stderr: fatal | error | warn | info | debug, or off", "info");
  cmd
    .command("alerts")
    .description("write Prometheus recording and alerting rules for the guard of --config (promtool-clean)")
    .option(
      "--error-ratio <ratio>",
      "alert when this share of a route's requests fail with 5xx, or of an upstream's with 502/503/504",
      parseNumber("--error-ratio"),
      ALERT_DEFAULTS.errorRatio,
    )
    .option("--latency-p99 <seconds>", "alert when a route's p99 latency stays above this", parseNumber("--latency-p99"), ALERT_DEFAULTS.latencyP99)
    .addOption(outOption("rules file (default: standard output)"))
    .action(function (this: Command, opts: { errorRatio: number; latencyP99: number; out?: string }) {
      if (!(opts.errorRatio > 0 && opts.errorRatio < 1)) throw new AegisError("BAD_OPTION", `--error-ratio must be between 0 and 1, not ${opts.errorRatio}`);
      if (!(opts.latencyP99 > 0)) throw new AegisError("BAD_OPTION", `--latency-p99 must be a positive number of seconds, not ${opts.latencyP99}`);
      const { config } = this.optsWithGlobals<{ config: string }>();
      const rules = alertRules(loadGuardConfig(config), { errorRatio: opts.errorRatio, latencyP99: opts.latencyP99 });
      if (opts.out) writeFileAtomic(opts.out, rules);
      else process.stdout.write(rules);
    });
  cmd
    .command("grafana")
    .description("write a Grafana dashboard (JSON) of the guard's metrics for the routes of --config, generated from the metric definitions")
    .addOption(outOption("dashboard file (default: standard output)"))
    .action(function (this: Command, opts: { out?: string }) {
      const { config } = this.optsWithGlobals<{ config: string }>();
      const dashboard = `${JSON.stringify(grafanaDashboard(loadGuardConfig(config)), null, 2)}\n`;
      if (opts.out) writeFileAtomic(opts.out, dashboard);
      else process.stdout.write(dashboard);
    });
  return cmd.action(async (opts: { config: string; logLevel: string }) => {
    const guard = await startGuard(opts.config, { logLevel: opts.logLevel === "off" ? false : opts.logLevel });
    info(`aegis guard listening at ${guard.url} (${guard.config.routes.map((r) => r.name).join(", ")})`);
    process.on("SIGHUP", () => {
      guard.reload().then(
        () => info(`reloaded ${opts.config}`),
        (e: unknown) => info(`kept the running configuration: ${(e as Error).message}`),
      );
    });
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    info("shutting down: finishing requests in flight");
    await guard.close();
  });
}

export function keysCommand(): Command {
  const cmd = new Command("keys").description("API keys of the guard (stored as salted hashes; the key is shown once, at creation)");
  cmd
    .command("create")
    .requiredOption("--file <keys.json>", "the keys file named by auth.apiKeys in guard.yaml")
    .requiredOption("--name <name>", "who or what the key is for")
    .option("--roles <roles>", "comma-separated roles, e.g. predict or admin", "predict")
    .option("--tenant <tenant>", "tenant the key belongs to (per-tenant limits)")
    .addOption(jsonOption("the new key (with its secret, shown once)"))
    .action((opts: { file: string; name: string; roles: string; tenant?: string; json?: boolean }) => {
      const roles = opts.roles
        .split(",")
        .map((r) => r.trim())
        .filter(Boolean);
      if (roles.length === 0) throw new AegisError("BAD_OPTION", "--roles must name at least one role");
      const { key, record } = createApiKey(opts.file, { name: opts.name, roles, tenant: opts.tenant });
      if (opts.json) return printJson({ key, id: record.id, name: record.name, roles: record.roles, tenant: record.tenant ?? null });
      process.stdout.write(`${key}\n`);
      info(`key ${record.id} for ${record.name} (${roles.join(", ")}); store it now, it is not shown again`);
    });
  cmd
    .command("list")
    .requiredOption("--file <keys.json>", "keys file")
    .addOption(jsonOption("the keys"))
    .action((opts: { file: string; json?: boolean }) => {
      const keys = readKeysFile(opts.file).keys.map(({ salt: _salt, hash: _hash, ...k }) => k);
      if (opts.json) return printJson(keys);
      for (const k of keys) {
        process.stdout.write(
          `${k.id}  ${k.name.padEnd(20)} ${k.roles.join(",").padEnd(16)} ${k.tenant ?? "-"}  ${k.revokedAt ? `revoked ${k.revokedAt}` : `created ${k.createdAt}`}\n`,
        );
      }
    });
  cmd
    .command("revoke")
    .argument("<id-or-name>", "key id (from `list`) or name")
    .requiredOption("--file <keys.json>", "keys file")
    .action((idOrName: string, opts: { file: string }) => {
      const record = revokeApiKey(opts.file, idOrName);
      info(`revoked ${record.id} (${record.name}); a running guard drops it on its next reload (SIGHUP)`);
    });
  return cmd;
}

export function auditLogCommand(): Command {
  const cmd = new Command("audit-log").description("the guard's hash-chained audit log");
  cmd
    .command("verify")
    .requiredOption("--db <file|url>", "audit log: auditLog.path in guard.yaml, or its store.postgres URL")
    .option("--expect-head <hash>", "the head hash recorded earlier: catches entries cut off the end")
    .addOption(jsonOption("the verdict"))
    .action(async (opts: { db: string; expectHead?: string; json?: boolean }) => {
      const { log, close } = await openLog(opts.db);
      const verdict = await log.verify();
      await close();
      const truncated = opts.expectHead !== undefined && verdict.head !== opts.expectHead && verdict.breaks.length === 0;
      const valid = verdict.valid && !truncated;
      if (opts.json) printJson({ ...verdict, valid, truncated });
      else {
        process.stdout.write(valid ? `OK: ${verdict.entries} entries, head ${verdict.head}\n` : `INVALID: ${verdict.entries} entries\n`);
        for (const b of verdict.breaks) process.stdout.write(`  entry ${b.seq}: ${b.problem}\n`);
        if (truncated) process.stdout.write(`  the head is ${verdict.head}, not the expected ${opts.expectHead}: entries were removed from the end\n`);
      }
      if (!valid) process.exitCode = 12;
    });
  cmd
    .command("export")
    .requiredOption("--db <file|url>", "audit log: SQLite file or postgres:// URL")
    .option("--identity <file>", "identity the payloads were encrypted to (auditLog.payloads: encrypt): they are exported decrypted")
    .addOption(outOption("JSONL file (default: stdout)"))
    .action(async (opts: { db: string; identity?: string; out?: string }) => {
      const identity = opts.identity === undefined ? undefined : readKeyFile(opts.identity);
      const { log, close } = await openLog(opts.db);
      const out: NodeJS.WritableStream = opts.out ? createWriteStream(opts.out) : process.stdout;
      for (const e of await entriesOf(log)) {
        const data = JSON.parse(e.data) as { requestId: string; payload?: string };
        if (identity && data.payload !== undefined) data.payload = decryptPayload(data.payload, data.requestId, identity);
        const line = `${JSON.stringify({ seq: e.seq, time: e.time, ...data, prev: e.prev, hash: e.hash })}\n`;
        if (!out.write(line)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
      }
      await close();
      if (opts.out) await new Promise<void>((resolve) => out.end(() => resolve()));
    });
  return cmd;
}

/** An entry's payload, decrypted: as text when it is UTF-8 (JSON bodies are), else base64 prefixed "base64:". */
function decryptPayload(payload: string, requestId: string, identity: Identity): string {
  const bytes = decryptBytes(Buffer.from(payload, "base64"), identity, `${payloadName(requestId)}.aegis`);
  const text = bytes.toString("utf8");
  return Buffer.from(text, "utf8").equals(bytes) ? text : `base64:${bytes.toString("base64")}`;
}

export function incidentsCommand(): Command {
  const cmd = new Command("incidents").description("incidents the guard opened (stored beside the audit log)");
  const store = async (db: string): Promise<IncidentStoreLike & { close(): Promise<void> | void }> => {
    if (isPostgres(db)) {
      const pool = await connectPostgres(db);
      return Object.assign(new PgIncidentStore(pool), { close: () => pool.end() });
    }
    if (!existsSync(db)) throw new AegisError("FILE_NOT_FOUND", `no audit log at ${db}; give auditLog.path from guard.yaml`);
    return new IncidentStore(db);
  };
  cmd
    .command("list")
    .requiredOption("--db <file|url>", "audit log: auditLog.path in guard.yaml, or its store.postgres URL")
    .option("--status <status>", "open or resolved (default: both)")
    .addOption(jsonOption("the incidents"))
    .action(async (opts: { db: string; status?: string; json?: boolean }) => {
      if (opts.status !== undefined && opts.status !== "open" && opts.status !== "resolved")
        throw new AegisError("BAD_OPTION", `--status must be open or resolved, not "${opts.status}"`);
      const s = await store(opts.db);
      const incidents = await s.list({ status: opts.status as "open" | "resolved" | undefined });
      await s.close();
      if (opts.json) return printJson(incidents);
      for (const i of incidents) {
        process.stdout.write(
          `#${i.id}  ${i.status.padEnd(8)} ${i.openedAt}  ${i.detector.padEnd(13)} ${i.action.padEnd(8)} ${i.client}  ${i.route}${i.until ? `  until ${i.until}` : ""}\n`,
        );
      }
    });
  cmd
    .command("show")
    .argument("<id>", "incident number")
    .requiredOption("--db <file|url>", "audit log: SQLite file or postgres:// URL")
    .addOption(jsonOption("the incident"))
    .action(async (id: string, opts: { db: string; json?: boolean }) => {
      const number = parseIncidentId(id);
      const s = await store(opts.db);
      const incident = await s.get(number);
      await s.close();
      if (!incident) throw noIncident(number);
      if (opts.json) return printJson(incident);
      process.stdout.write(
        `incident #${incident.id} (${incident.status}): ${incident.detector} on ${incident.route}, client ${incident.client}, action ${incident.action}\n`,
      );
      for (const e of incident.timeline) process.stdout.write(`  ${e.time}  ${e.event}${e.detail ? `: ${e.detail}` : ""}\n`);
    });
  cmd
    .command("resolve")
    .argument("<id>", "incident number")
    .requiredOption("--db <file|url>", "audit log: SQLite file or postgres:// URL")
    .option("--by <who>", "who resolved it, for the timeline", process.env.USER ?? "operator")
    .action(async (id: string, opts: { db: string; by: string }) => {
      const number = parseIncidentId(id);
      const s = await store(opts.db);
      const incident = await Promise.resolve(s.resolve(number, `resolved by ${opts.by}`)).finally(() => s.close());
      info(`incident #${incident.id} resolved; running guards lift its action within a second`);
    });
  return cmd;
}

const isPostgres = (db: string) => /^postgres(ql)?:\/\//.test(db);

/** The audit log named by --db: an SQLite file, or a postgres:// URL (store.postgres in guard.yaml). */
async function openLog(db: string): Promise<{ log: SqliteAuditLog | PgAuditLog; close(): Promise<void> | void }> {
  if (isPostgres(db)) {
    const pool = await connectPostgres(db);
    return { log: new PgAuditLog(pool), close: () => pool.end() };
  }
  if (!existsSync(db)) throw new AegisError("FILE_NOT_FOUND", `no audit log at ${db}; give auditLog.path (or store.postgres) from guard.yaml`);
  const log = new SqliteAuditLog(db, { readonly: true });
  return { log, close: () => log.close() };
}

async function entriesOf(log: SqliteAuditLog | PgAuditLog) {
  return log instanceof PgAuditLog ? await log.entries() : [...log.entries()];
}
