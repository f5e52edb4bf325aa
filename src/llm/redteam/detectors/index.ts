/** The detector registry (the optional judge is added by the runner when configured). */
import type { Detector } from "../types.js";
import { canaryDetector } from "./canary.js";
import { complianceDetector } from "./compliance.js";
import { lengthDetector } from "./length.js";
import { markupDetector } from "./markup.js";
import { promptLeakDetector } from "./prompt-leak.js";
import { regexDetector } from "./regex.js";

export const DETECTORS: readonly Detector[] = [canaryDetector, complianceDetector, promptLeakDetector, markupDetector, lengthDetector, regexDetector];
