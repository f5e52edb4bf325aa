/**
 * The dashboard: a self-contained page at /dashboard (it holds no data; the operator
 * signs in with an admin API key or token, kept in the tab's sessionStorage) and the
 * admin JSON API it polls: an overview of the last minutes from the audit log, open
 * incidents with their timelines, resolving an incident, and audit-log search.
 */
import type { FastifyPluginAsync } from "fastify";
import type { IncidentResponder } from "../incidents/responder.js";
import { parseIncidentId } from "../incidents/store.js";
import type { Stores } from "../store/index.js";
import { DASHBOARD_HTML } from "./page.js";

export interface DashboardOptions {
  auditLog: Stores["auditLog"];
  responder: IncidentResponder;
}

const ADMIN = { roles: ["admin"], routeName: "dashboard" };

export const dashboard: FastifyPluginAsync<DashboardOptions> = async (app, { auditLog, responder }) => {
  app.get("/dashboard", { config: { public: true } }, async (_request, reply) =>
    reply
      .type("text/html; charset=utf-8")
      .header("content-security-policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
      .header("x-frame-options", "DENY")
      .send(DASHBOARD_HTML),
  );

  app.get<{ Querystring: { minutes?: string } }>("/admin/api/overview", { config: ADMIN }, async (request) => {
    const minutes = Math.min(1440, Math.max(1, Number(request.query.minutes ?? 5) || 5));
    const since = new Date(Date.now() - minutes * 60_000).toISOString();
    return { minutes, since, ...(await auditLog.overview(since)), incidents: await responder.openIncidents() };
  });

  app.post<{ Params: { id: string } }>("/admin/api/incidents/:id/resolve", { config: ADMIN }, async (request) => {
    return responder.resolve(parseIncidentId(request.params.id), `resolved by ${request.aegis.principal?.name ?? "admin"} on the dashboard`);
  });

  app.get<{ Querystring: { q?: string; limit?: string } }>("/admin/api/audit", { config: ADMIN }, async (request) => {
    const q = String(request.query.q ?? "");
    const limit = Math.min(500, Math.max(1, Number(request.query.limit ?? 100) || 100));
    return { entries: await auditLog.search(q, limit) };
  });
};
