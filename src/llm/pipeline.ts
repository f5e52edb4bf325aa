/**
 * A scanner pipeline (LLM Guard's scan_prompt / scan_output): scanners of one stage run in
 * order, each on the text the previous one passed on, so redactions and anonymisation
 * chain. Scanners are blocking (an invalid verdict refuses the text: injection, smuggled
 * text, leaks) or transforming (pii, secrets: they anonymise or redact and record, as a
 * gateway would pass the text on). The verdict is valid unless a blocking scanner finds the
 * text invalid, so `aegis llm scan` and the guard agree; each scanner's own verdict stays
 * in `runs`. The score is the highest; the findings are all of them; each scanner's time is
 * recorded. With failFast the pipeline stops at the first blocking verdict. A finding's
 * span refers to the text its scanner received: the original for the first scanner, the
 * text as redacted by the scanners before it for the others.
 */
import { AegisError } from "../errors.js";
import { DEFAULT_BLOCKING_SCANNERS } from "./scanners/index.js";
import type { Detection, ScanContext, Scanner, ScannerStage, ScanResult } from "./scanners/types.js";

export interface PipelineOptions {
  /** Stop at the first blocking scanner that finds the text invalid (default false). */
  failFast?: boolean;
  /** Scanners whose invalid verdict makes the text invalid (default DEFAULT_BLOCKING_SCANNERS); the others only transform and record. */
  block?: Iterable<string>;
}

export interface ScannerRun {
  scanner: string;
  valid: boolean;
  score: number;
  ms: number;
}

export interface PipelineResult extends ScanResult {
  /** One entry per scanner that ran, in order. */
  runs: ScannerRun[];
  /** Total time, ms. */
  ms: number;
}

export interface Pipeline {
  readonly stage: ScannerStage;
  readonly scanners: readonly Scanner[];
  /** Names of the scanners whose invalid verdict makes the text invalid. */
  readonly block: ReadonlySet<string>;
  scan(text: string, context?: ScanContext): Promise<PipelineResult>;
}

export function createPipeline(stage: ScannerStage, scanners: readonly Scanner[], options: PipelineOptions = {}): Pipeline {
  for (const s of scanners) {
    if (s.stage !== stage && s.stage !== "both")
      throw new AegisError(
        "BAD_OPTION",
        `scanner "${s.name}" is an ${s.stage} scanner and cannot run in the ${stage} pipeline; remove it or use --stage ${s.stage}`,
      );
  }
  const block = new Set(options.block ?? DEFAULT_BLOCKING_SCANNERS);
  return {
    stage,
    scanners,
    block,
    async scan(text: string, context: ScanContext = {}): Promise<PipelineResult> {
      const started = performance.now();
      const runs: ScannerRun[] = [];
      const findings: Detection[] = [];
      let current = text;
      let valid = true;
      let score = 0;
      for (const scanner of scanners) {
        const t0 = performance.now();
        const result = await scanner.scan(current, context);
        runs.push({ scanner: scanner.name, valid: result.valid, score: result.score, ms: performance.now() - t0 });
        findings.push(...result.findings);
        current = result.text;
        const blocked = !result.valid && block.has(scanner.name);
        valid &&= !blocked;
        score = Math.max(score, result.score);
        if (blocked && options.failFast) break;
      }
      return { text: current, valid, score, findings, runs, ms: performance.now() - started };
    },
  };
}
