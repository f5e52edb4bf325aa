/** aegis-ml/threat: AI threat modelling — describe a system, derive and score its threats, attach evidence, render reports. */
export { analyze, SCORING_METHOD } from "./analyze.js";
export { loadAtlasFile } from "./atlas-file.js";
export { attachEvidence, MITIGATED_RATIO } from "./evidence.js";
export { renderThreatJunit, threatFindings } from "./findings.js";
export { renderIrPlan } from "./ir-plan.js";
export { loadSystem, parseSystem } from "./parse.js";
export { renderCsv } from "./report/csv.js";
export { renderHtml } from "./report/html.js";
export { renderJson } from "./report/json.js";
export { renderMarkdown } from "./report/markdown.js";
export { byRisk, LEVELS, levelCounts, oneLine, targetLabel } from "./report/shared.js";
export { TEMPLATES, templateText } from "./templates.js";
export * from "./types.js";
