/** aegis-ml/llm/redteam: an offline red-team scanner for OpenAI-compatible chat endpoints (probes, transforms, detectors, target, runner, reports). */
export { canaryDetector } from "./detectors/canary.js";
export { complianceDetector } from "./detectors/compliance.js";
export { DETECTORS } from "./detectors/index.js";
export { createJudgeDetector, type JudgeFunction, type JudgeVerdict, openAiJudge } from "./detectors/judge.js";
export { lengthDetector } from "./detectors/length.js";
export { markupDetector } from "./detectors/markup.js";
export { promptLeakDetector } from "./detectors/prompt-leak.js";
export { regexDetector } from "./detectors/regex.js";
export { FORBIDDEN_GOALS, type ForbiddenGoal } from "./goals.js";
export { DEFAULT_SYSTEM_PROMPT, PROBES } from "./probes/index.js";
export {
  buildReport,
  DEFAULT_REDTEAM_FORMATS,
  type ProbeRow,
  type RateRow,
  REDTEAM_FORMATS,
  REPORT_SCHEMA,
  type RedTeamReport,
  renderRedTeamHtml,
  renderRedTeamJunit,
  renderRedTeamMarkdown,
  type SuccessfulAttack,
  writeRedTeamReports,
} from "./report.js";
export {
  type AttemptExecutor,
  NO_TRANSFORM,
  type PlannedAttempt,
  type RedTeamOptions,
  type RedTeamRun,
  runPlannedAttempt,
  runRedTeam,
  selectPlugins,
} from "./runner.js";
export { chatCompletionsUrl, createOpenAiTarget, type OpenAiTargetOptions } from "./targets/openai.js";
export { TRANSFORMS } from "./transforms/index.js";
export * from "./types.js";
