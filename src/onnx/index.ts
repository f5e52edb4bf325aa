export { GraphBuilder } from "./builder.js";
export { loadModel, saveModel } from "./io.js";
export * from "./ir.js";
export { decodeModel, encodeModel } from "./proto.js";
