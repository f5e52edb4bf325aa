/**
 * Prompt-injection and jailbreak input scanner, layered as in Rebuff (ProtectAI, 2023) and
 * LLM Guard's PromptInjection scanner: the text is first normalised (invisible, tag,
 * homoglyph and compatibility characters undone), then checked against hand-written
 * pattern families (Perez & Ribeiro 2022; Wei et al. 2023; Greshake et al. 2023), then
 * scored by a small classifier Aegis trains itself (scripts/train-prompt-injection.ts,
 * models/prompt-injection.card.md). Deliberate deviation: no transformer; the classifier
 * is a hashed n-gram model, so a scan costs well under a millisecond per 1,000 characters.
 */
import { AegisError } from "../../errors.js";
import { DEFAULT_MODEL_PATH, type InjectionModel, loadInjectionModel } from "../injection/classifier.js";
import { featurize } from "../injection/features.js";
import { heuristicHits, heuristicScore } from "../injection/heuristics.js";
import { combinedScore } from "../injection/model.js";
import { normalizeText } from "../normalize.js";
import type { Finding, Scanner, ScanResult } from "./types.js";

export interface PromptInjectionOptions {
  /** Score at or above which the input is invalid; default: the threshold stored in the model. */
  threshold?: number;
  /** ONNX model to use instead of the shipped models/prompt-injection.onnx. */
  modelPath?: string;
}

export function promptInjectionScanner(options: PromptInjectionOptions = {}): Scanner {
  const modelPath = options.modelPath ?? DEFAULT_MODEL_PATH;
  if (options.threshold !== undefined && !(options.threshold > 0 && options.threshold <= 1)) {
    throw new AegisError("BAD_OPTION", `the prompt-injection threshold must be in (0, 1], got ${options.threshold}`);
  }
  // Loaded on first scan, once per process and path (loadInjectionModel caches it).
  let model: Promise<InjectionModel> | undefined;
  return {
    name: "prompt-injection",
    stage: "input",
    description: "prompt injection and jailbreaks: normalisation, pattern families and a trained n-gram classifier",
    async scan(text: string): Promise<ScanResult> {
      model ??= loadInjectionModel(modelPath);
      const loaded = await model;
      const threshold = options.threshold ?? loaded.threshold;
      const normalized = normalizeText(text);
      const hits = heuristicHits(normalized.text);
      const [probability] = await loaded.score(featurize(normalized.text, { normalized: true }), 1);
      // Same combination as at threshold-selection time (scripts/train-prompt-injection.ts).
      const score = combinedScore(probability, heuristicScore(hits));
      const unchanged = normalized.text === text;
      const undone = normalized.transforms.length ? ` after undoing ${normalized.transforms.join(", ")}` : "";
      const findings: Finding[] = hits.map((hit) => ({
        scanner: "prompt-injection",
        kind: hit.kind,
        // Offsets refer to the scanned text only when normalisation did not move anything.
        ...(unchanged ? { span: hit.span } : {}),
        score: hit.weight,
        detail: `matched "${hit.match.slice(0, 80)}"${undone}`,
      }));
      if (probability >= threshold) {
        findings.push({
          scanner: "prompt-injection",
          kind: "classifier",
          score: probability,
          detail: `classifier ${loaded.version} probability ${probability.toFixed(3)}${undone}`,
        });
      }
      return { text, valid: score < threshold, score, findings };
    },
  };
}
