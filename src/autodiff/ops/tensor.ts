import type { VjpRule } from "../rule.js";

export const TENSOR_RULES: readonly VjpRule[] = [];
