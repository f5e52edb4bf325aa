import type { VjpRule } from "../rule.js";
import { Conv } from "./Conv.js";

export const NN_RULES: readonly VjpRule[] = [Conv];
