/**
 * Findings every format scanner shares. A file whose magic says "safetensors" (or npy,
 * GGUF, ONNX, pickle, zip…) but whose header does not parse is never just "unknown": a
 * header one reader accepts and another reads differently is how scanner bypasses start.
 */
import type { Finding, Severity } from "../report/finding.js";
import { scanFinding } from "./rules.js";
import type { Location } from "./types.js";

export const MALFORMED_HEADER = "MALFORMED-HEADER";

/**
 * `problem` is a sentence without its final stop ("The safetensors header claims 2^63
 * bytes, more than the file holds"); HIGH is for length fields that point past the data,
 * which make loaders over-read or over-allocate.
 */
export function malformedHeader(location: Location, format: string, problem: string, options: { severity?: Severity; offset?: number } = {}): Finding {
  return scanFinding(
    options.severity ?? "medium",
    MALFORMED_HEADER,
    `${problem}; a loader may read it differently from this scanner, so treat the file as crafted.`,
    { ...location, ...(options.offset === undefined ? {} : { offset: options.offset }), symbol: format },
  );
}
