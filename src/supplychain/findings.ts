/**
 * Findings every format scanner shares. A file whose magic says "safetensors" (or npy,
 * GGUF, ONNX, pickle, zip…) but whose header does not parse is never just "unknown": a
 * header one reader accepts and another reads differently is how scanner bypasses start.
 */
import type { Location, ScanFinding, Severity } from "./types.js";

export const MALFORMED_HEADER = "MALFORMED-HEADER";

/**
 * `problem` is a sentence without its final stop ("The safetensors header claims 2^63
 * bytes, more than the file holds"); HIGH is for length fields that point past the data,
 * which make loaders over-read or over-allocate.
 */
export function malformedHeader(location: Location, format: string, problem: string, options: { severity?: Severity; offset?: number } = {}): ScanFinding {
  return {
    severity: options.severity ?? "MEDIUM",
    rule: MALFORMED_HEADER,
    message: `${problem}; a loader may read it differently from this scanner, so treat the file as crafted.`,
    location: { ...location, ...(options.offset === undefined ? {} : { offset: options.offset }), detail: format },
  };
}
