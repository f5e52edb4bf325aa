/** The public API of the gateway: the model server, the guard, its controls and detectors. */

export { type GuardConfig, loadGuardConfig } from "./config.js";
export * from "./detectors/index.js";
export { type RunningGuard, startGuard } from "./guard.js";
export { modelRoutes, NPY_CONTENT_TYPE, type ServedModel } from "./model-route.js";
export { createServer, type ServerOptions } from "./server.js";
export { InstanceValidator, predictRequestSchema, RequestError } from "./validation.js";
