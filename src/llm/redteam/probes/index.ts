/** The probe registry: name → plugin, in the order `--list` and the report show them. */
import type { Probe } from "../types.js";
import { crescendoProbe } from "./crescendo.js";
import { danProbe } from "./dan.js";
import { directInjectionProbe } from "./direct-injection.js";
import { directRequestProbe } from "./direct-request.js";
import { indirectInjectionProbe } from "./indirect-injection.js";
import { manyShotProbe } from "./many-shot.js";
import { markdownExfilProbe } from "./markdown-exfil.js";
import { piiLeakageProbe } from "./pii-leakage.js";
import { prefixInjectionProbe } from "./prefix-injection.js";
import { refusalSuppressionProbe } from "./refusal-suppression.js";
import { roleplayProbe } from "./roleplay.js";
import { scriptInjectionProbe } from "./script-injection.js";
import { systemPromptExtractionProbe } from "./system-prompt-extraction.js";
import { unboundedOutputProbe } from "./unbounded-output.js";

export const PROBES: readonly Probe[] = [
  directInjectionProbe,
  indirectInjectionProbe,
  systemPromptExtractionProbe,
  piiLeakageProbe,
  directRequestProbe,
  roleplayProbe,
  danProbe,
  refusalSuppressionProbe,
  prefixInjectionProbe,
  manyShotProbe,
  crescendoProbe,
  scriptInjectionProbe,
  markdownExfilProbe,
  unboundedOutputProbe,
];

export { DEFAULT_SYSTEM_PROMPT } from "./setup.js";
