export { unbroadcast } from "./broadcast.js";
export { appendGradients, type GradientRequest, type NonDifferentiableNode, nonDifferentiableNodes } from "./gradient.js";
export { hasGradient, NO_GRADIENT_OPS, RULES } from "./registry.js";
export type { GradThunk, ValueShape, VjpContext, VjpRule } from "./rule.js";
