/** The public API of the model-file scanner. */

export { buildBom } from "./bom.js";
export { failsAt, formatSarif, formatText } from "./report.js";
export { DEFAULT_LIMITS, type ScanOptions, scanBytes, scanPaths, verdictOf } from "./scan.js";
export * from "./signing/index.js";
export type * from "./types.js";
