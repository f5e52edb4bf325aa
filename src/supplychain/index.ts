/** The public API of the model-file scanner. */

export { buildBom } from "./bom.js";
export {
  applyScanPolicy,
  failsAt,
  formatText,
  loadScanPolicy,
  renderScanHtml,
  renderScanJunit,
  renderScanMarkdown,
  renderScanSarif,
  SCAN_FORMATS,
} from "./report.js";
export { DEFAULT_LIMITS, type FileScanner, type ScanOptions, scanBytes, scanPaths } from "./scan.js";
export * from "./signing/index.js";
export type * from "./types.js";
