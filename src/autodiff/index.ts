export { unbroadcast } from "./broadcast.js";
export { appendGradients, type GradientProblem, type GradientRequest, notDifferentiable, type ParameterUse } from "./gradient.js";
export { PER_EXAMPLE_RULES, type PerExampleGradient, type PerExampleRule } from "./per-example/index.js";
export { appendPerExampleGradients, type PerExampleRequest, type PerExampleValues } from "./per-example.js";
export { hasGradient, NO_GRADIENT_OPS, RULES } from "./registry.js";
export type { GradThunk, ValueShape, VjpContext, VjpRule } from "./rule.js";
