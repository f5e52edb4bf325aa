/** The public API of the gateway: the model server today, the guard's controls as they land. */
export { modelRoutes, NPY_CONTENT_TYPE, type ServedModel } from "./model-route.js";
export { createServer, type ServerOptions } from "./server.js";
export { InstanceValidator, predictRequestSchema, RequestError } from "./validation.js";
