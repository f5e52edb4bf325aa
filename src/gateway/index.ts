/** The public API of the gateway: the model server, the guard, its controls and detectors. */

export { ALERT_DEFAULTS, type AlertThresholds, alertRules } from "./alerts.js";
export { SqliteAuditLog } from "./audit-log/sqlite.js";
export { createApiKey, readKeysFile, revokeApiKey } from "./auth/api-keys.js";
export { type GuardConfig, loadGuardConfig } from "./config.js";
export * from "./detectors/index.js";
export { grafanaDashboard } from "./grafana.js";
export { type RunningGuard, startGuard } from "./guard.js";
export type { IncidentStoreLike } from "./incidents/responder.js";
export { IncidentStore, noIncident, parseIncidentId } from "./incidents/store.js";
export { modelRoutes, NPY_CONTENT_TYPE, type ServedModel } from "./model-route.js";
export { payloadName } from "./plugins/audit-log.js";
export { createServer, type ServerOptions } from "./server.js";
export { connectPostgres, PgAuditLog, PgIncidentStore } from "./store/postgres.js";
export { InstanceValidator, predictRequestSchema, RequestError } from "./validation.js";
