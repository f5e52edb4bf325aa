/**
 * The one scanner interface (LLM Guard's shape): every input and output scanner takes a
 * text and a context and returns the text it would pass on (possibly redacted), whether
 * it is valid, a risk score and what it found, so the pipeline and the gateway compose
 * scanners in any order.
 */

export type ScannerStage = "input" | "output";

export interface ScanContext {
  /** The prompt that produced an output (output scanners). */
  prompt?: string;
  /** The application's system prompt (leakage scanners). */
  systemPrompt?: string;
  /** Canary tokens planted in the system prompt or documents. */
  canaries?: readonly string[];
  /** Retrieved documents or tool outputs that accompany the prompt (the indirect-injection scanner reads them). */
  documents?: readonly string[];
  /** Vault that keeps the originals of anonymised values, so an output can be de-anonymised. */
  vault?: Map<string, string>;
}

/**
 * What one scanner detected in one text, with its place in it; a report turns what
 * matters into findings (report/finding.ts), as `aegis llm eval` does.
 */
export interface Detection {
  /** Scanner that made the finding, e.g. "pii". */
  scanner: string;
  /** What was found, e.g. "email", "aws-access-key", "instruction-override". */
  kind: string;
  /** Character offsets [start, end) in the scanned text, when the finding has a place. */
  span?: [number, number];
  /** 0 (harmless) … 1 (certain). */
  score: number;
  /** Short human-readable detail; never the raw secret. */
  detail?: string;
}

export interface ScanResult {
  /** Text to pass on: the input, or a redacted/anonymised version of it. */
  text: string;
  valid: boolean;
  /** Highest risk found, 0 … 1. */
  score: number;
  findings: Detection[];
}

export interface Scanner {
  readonly name: string;
  readonly stage: ScannerStage | "both";
  /** One line for `aegis llm scan --list`. */
  readonly description: string;
  scan(text: string, context?: ScanContext): ScanResult | Promise<ScanResult>;
}
