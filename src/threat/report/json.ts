/** The threat model as JSON: the ThreatModel object itself, for tools and later diffs. */
import type { ThreatModel } from "../types.js";

export function renderJson(model: ThreatModel): string {
  return `${JSON.stringify(model, null, 2)}\n`;
}
