/** The public API of the LLM security tools: scanners, pipeline, evaluation, the injection detector and the red team's refusal detector. */

export { evalFindings, missedGates, renderEvalHtml, renderEvalJunit, renderEvalMarkdown } from "./eval-report.js";
export {
  type EvalReport,
  type EvaluatedRow,
  evaluatePipeline,
  formatEvalReport,
  type LabelledRow,
  loadLabelledJsonl,
  type ModePipelines,
  type ModeScans,
  READING_MODES,
  type ReadingMode,
  type RowScan,
  scanRows,
  scanRowsByMode,
  summariseModes,
  summariseScans,
  type UseFilter,
} from "./evaluate.js";
export {
  DEFAULT_MODEL_PATH as PROMPT_INJECTION_MODEL_PATH,
  loadInjectionModel,
  MODEL_VERSION as PROMPT_INJECTION_MODEL_VERSION,
} from "./injection/classifier.js";
export { contextWindows } from "./injection/context.js";
export { readJsonl, sourceGroup } from "./injection/data.js";
export { FEATURE_SPEC, featureSpecHash, featurize } from "./injection/features.js";
export { HEURISTIC_FAMILIES, heuristicHits, heuristicScore } from "./injection/heuristics.js";
export {
  crossValidatePipeline,
  formatProtocolReport,
  leaveOneSourceOut,
  type PipelineProtocolOptions,
  type PipelineProtocolResult,
  type ProtocolReport,
  protocolReport,
} from "./injection/protocol.js";
export { deLeet, type NormalizedText, normalizeText } from "./normalize.js";
export { generatePiiCorpus, type PiiCorpusRow, scoreDetections } from "./pii-corpus.js";
export { createPipeline, type Pipeline, type PipelineOptions, type PipelineResult, type ScannerRun } from "./pipeline.js";
export { createJudgeDetector, openAiJudge } from "./redteam/detectors/judge.js";
export { buildReport, DEFAULT_REDTEAM_FORMATS, REDTEAM_FORMATS, type RedTeamReport, writeRedTeamReports } from "./redteam/report.js";
export { type AttemptExecutor, type PlannedAttempt, runPlannedAttempt, runRedTeam } from "./redteam/runner.js";
export { createOpenAiTarget } from "./redteam/targets/openai.js";
export type { AttemptResult, PluginMeta } from "./redteam/types.js";
export { isRefusal, refusalScore } from "./refusal.js";
export { loadScannerConfig, pipelineFromConfig, type ScannerConfig } from "./scanner-config.js";
export * from "./scanners/index.js";
export { anonymize, detectPii, PII_KINDS } from "./scanners/pii.js";
export { type PromptInjectionOptions, promptInjectionScanner } from "./scanners/prompt-injection.js";
export { detectSecrets } from "./scanners/secrets.js";
export { countTokens } from "./scanners/token-limit.js";
