import type { VjpRule } from "../rule.js";

export const NN_RULES: readonly VjpRule[] = [];
