/**
 * The red-team vocabulary, after garak's plugin taxonomy (Derczynski et al. 2024, "garak: A
 * Framework for Security Probing Large Language Models"): probes write attacks, transforms
 * re-encode them, targets answer them, detectors decide whether each attempt succeeded.
 * Every plugin carries the metadata the CLI lists and the report cites (OWASP Top 10 for
 * LLM Applications 2025 ids, MITRE ATLAS ids, tags).
 */

export type ChatRole = "system" | "user" | "assistant" | "tool";

export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** One message of an OpenAI-style chat. */
export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Assistant messages that called a tool (needed before a `tool` message). */
  tool_calls?: ToolCall[];
  /** Tool result messages: the call they answer. */
  tool_call_id?: string;
}

export interface PluginMeta {
  /** Registry name, e.g. "jailbreak.dan". */
  name: string;
  /** One line for `aegis redteam --list`. */
  description: string;
  /** OWASP Top 10 for LLM Applications 2025 ids, e.g. "LLM01". */
  owasp: string[];
  /** MITRE ATLAS technique ids, e.g. "AML.T0051.000". */
  atlas: string[];
  tags: string[];
}

/** What the detectors look for in the replies of one attempt. */
export interface Expectations {
  /** Tokens planted by the probe; any of them in a reply is a leak. */
  canaries?: string[];
  /** Regular expressions (sources, case-insensitive) that must ALL match a reply that complies with a forbidden goal. */
  compliance?: string[];
  /** Regular expressions (sources, case-insensitive); any match is a hit for the regex detector. */
  patterns?: string[];
  /** The system prompt the attempt ran with, for similarity-based leak detection. */
  systemPrompt?: string;
  /** Replies longer than this many characters count as unbounded output. */
  maxChars?: number;
}

/** One attack as a probe writes it, before a transform. */
export interface AttemptPlan {
  /** Stable id inside its probe, e.g. "ignore-and-say". */
  id: string;
  /** Messages before the user turns: system prompt, earlier context, tool results. */
  setup: ChatMessage[];
  /** User turns sent in order, each after the reply to the previous one. */
  turns: string[];
  /** Index in `turns` of the attack payload a transform may encode; undefined = do not transform. */
  payloadTurn?: number;
  expect: Expectations;
  /** Detectors whose hit means success (any of them). */
  detectors: string[];
  /** What the attempt tries, for the report. */
  goal: string;
}

/** What a probe gets to build its attempts. */
export interface ProbeContext {
  /** The application's system prompt (from --system-prompt), or Aegis's default bank assistant. */
  systemPrompt: string;
  /** True when systemPrompt is the user's own. */
  userSystemPrompt: boolean;
  /** Fresh canary token with a readable prefix, e.g. canary("KEY") → "KEY-7f3a9c1d2e". */
  canary(prefix: string): string;
}

export interface Probe extends PluginMeta {
  /** Attempts in order of priority (the runner keeps the first --max-attempts). */
  attempts(ctx: ProbeContext): AttemptPlan[];
}

export interface Transform extends PluginMeta {
  /** Re-encodes an attack payload, with whatever instruction the model needs to decode it; `keep` (canary tokens) must survive a character-level rewrite. */
  apply(text: string, keep?: readonly string[]): string;
}

export interface DetectorVerdict {
  detector: string;
  hit: boolean;
  /** 0 … 1. */
  score: number;
  /** Short explanation: what matched, where. */
  evidence?: string;
}

export interface Detector extends PluginMeta {
  detect(reply: string, attempt: { expect: Expectations; goal: string; finishReason?: string }): DetectorVerdict | Promise<DetectorVerdict>;
}

export interface ChatReply {
  text: string;
  /** "stop", "length", … as the endpoint reported it. */
  finishReason?: string;
  latencyMs: number;
}

export interface ChatOptions {
  signal?: AbortSignal;
}

/** Anything that answers a chat: an OpenAI-compatible endpoint, a function in a test. */
export interface ChatTarget {
  readonly name: string;
  chat(messages: ChatMessage[], options?: ChatOptions): Promise<ChatReply>;
}

/** One attempt as it ran. */
export interface AttemptResult {
  probe: string;
  transform: string;
  attemptId: string;
  goal: string;
  success: boolean;
  /** Verdicts on the reply that decided (the first successful turn, else the last). */
  verdicts: DetectorVerdict[];
  /** Index of the user turn whose reply succeeded. */
  successTurn?: number;
  transcript: ChatMessage[];
  error?: string;
}
