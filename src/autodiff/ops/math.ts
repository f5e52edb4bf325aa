import type { VjpRule } from "../rule.js";

export const MATH_RULES: readonly VjpRule[] = [];
