/**
 * Prompt-injection and jailbreak input scanner, layered as in Rebuff (ProtectAI, 2023) and
 * LLM Guard's PromptInjection scanner: the text is first normalised (invisible, tag,
 * homoglyph and compatibility characters undone), then checked against hand-written
 * pattern families (Perez & Ribeiro 2022; Wei et al. 2023; Greshake et al. 2023), then
 * scored by a small classifier Aegis trains itself (scripts/train-prompt-injection.ts,
 * models/prompt-injection.card.md). Deliberate deviation: no transformer; the classifier
 * is a hashed n-gram model, so a scan costs well under a millisecond per 1,000 characters.
 *
 * Two modes. "prompt" reads the text as a user's prompt. "context" (the indirect-injection
 * scanner) reads retrieved documents and tool outputs — the documents of the scan context,
 * or the text itself when there are none, as when a gateway scans a tool message — and asks
 * whether they hold instructions addressed to the assistant: each is scored in windows of two
 * sentences or lines of prose (whole when shorter; injection/context.ts) by context mode's own classifier,
 * which learned prompts against documents (injection/context-model.ts), against its own
 * threshold, chosen on document sources.
 */
import { AegisError } from "../../errors.js";
import { DEFAULT_MODEL_PATH, type InjectionModel, loadInjectionModel } from "../injection/classifier.js";
import { scoreWindows } from "../injection/context.js";
import { featurize } from "../injection/features.js";
import { heuristicHits, heuristicScore } from "../injection/heuristics.js";
import { combinedScore } from "../injection/model.js";
import { normalizeText } from "../normalize.js";
import type { Detection, ScanContext, Scanner, ScanResult } from "./types.js";

export interface PromptInjectionOptions {
  /** Score at or above which the input is invalid; default: the threshold stored in the model for the mode. */
  threshold?: number;
  /** ONNX model to use instead of the shipped models/prompt-injection.onnx. */
  modelPath?: string;
  /** A model already loaded (API only: a candidate being cross-validated); overrides modelPath. */
  model?: InjectionModel;
  /** "prompt" (default): the text is a user's prompt. "context": retrieved documents or tool outputs (see above). */
  mode?: "prompt" | "context";
}

export function promptInjectionScanner(options: PromptInjectionOptions = {}): Scanner {
  const modelPath = options.modelPath ?? DEFAULT_MODEL_PATH;
  if (options.threshold !== undefined && !(options.threshold > 0 && options.threshold <= 1)) {
    throw new AegisError("BAD_OPTION", `the prompt-injection threshold must be in (0, 1], got ${options.threshold}`);
  }
  const mode = options.mode ?? "prompt";
  if (mode !== "prompt" && mode !== "context") throw new AegisError("BAD_OPTION", `mode must be prompt or context, not "${mode}"`);
  // Loaded on first scan, once per process and path (loadInjectionModel caches it).
  let model: Promise<InjectionModel> | undefined = options.model && Promise.resolve(options.model);
  const load = () => {
    model ??= loadInjectionModel(modelPath);
    return model;
  };
  if (mode === "context") {
    return {
      name: "indirect-injection",
      stage: "input",
      description: "instructions addressed to the assistant inside retrieved documents and tool outputs (context mode of the injection classifier)",
      scan: async (text, context) => scanContent(text, context, await load(), options.threshold),
    };
  }
  return {
    name: "prompt-injection",
    stage: "input",
    description: "prompt injection and jailbreaks: normalisation, pattern families and a trained n-gram classifier",
    scan: async (text) => scanPrompt(text, await load(), options.threshold),
  };
}

function undoneNote(transforms: readonly string[]): string {
  return transforms.length ? ` after undoing ${transforms.join(", ")}` : "";
}

async function scanPrompt(text: string, model: InjectionModel, thresholdOption: number | undefined): Promise<ScanResult> {
  const threshold = thresholdOption ?? model.threshold;
  const normalized = normalizeText(text);
  const hits = heuristicHits(normalized.text);
  const [probability] = await model.score(featurize(normalized.text, { normalized: true, hits }), 1);
  // Same combination as at threshold-selection time (scripts/train-prompt-injection.ts).
  const score = combinedScore(probability, heuristicScore(hits));
  const unchanged = normalized.text === text;
  const undone = undoneNote(normalized.transforms);
  const findings: Detection[] = hits.map((hit) => ({
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
      detail: `classifier ${model.version} probability ${probability.toFixed(3)}${undone}`,
    });
  }
  return { text, valid: score < threshold, score, findings };
}

/** Context mode: each document (or the text itself) scored by windows (whole when short); the worst decides. */
async function scanContent(text: string, context: ScanContext | undefined, model: InjectionModel, thresholdOption: number | undefined): Promise<ScanResult> {
  const threshold = thresholdOption ?? model.contextThreshold;
  const contents = context?.documents?.length ? context.documents : [text];
  const findings: Detection[] = [];
  let worst = 0;
  for (let k = 0; k < contents.length; k++) {
    const normalized = normalizeText(contents[k]);
    const { score, scores, texts, whole } = await scoreWindows(normalized.text, model.contextScore);
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
    worst = Math.max(worst, score);
    if (score < threshold) continue;
    const where = contents.length > 1 || context?.documents?.length ? `document ${k + 1}` : "content";
    const what = whole ? "as a whole" : `in "${texts[best].replace(/\n/g, " ").slice(0, 100)}"`;
    findings.push({
      scanner: "indirect-injection",
      kind: "instructions-to-assistant",
      score,
      detail: `${where}: instructions addressed to the assistant ${what} (score ${score.toFixed(3)})${undoneNote(normalized.transforms)}`,
    });
  }
  return { text, valid: worst < threshold, score: worst, findings };
}
