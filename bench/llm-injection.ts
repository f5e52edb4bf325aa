/**
 * Prompt-injection scanner on unseen data and its latency: F1, precision, recall and FPR
 * of the shipped model (models/prompt-injection.onnx, at its stored threshold) on the
 * eval-only rows of ../shared/data/llm, which were never used for training or tuning,
 * with recall per attack kind and FPR per benign kind; then the scanner's latency per
 * 1,000 characters (normalisation + heuristics + featurisation + one ONNX Runtime call)
 * over every row, p50/p99.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { readJsonl } from "../src/llm/injection/data.js";
import { binaryMetrics, flaggedRateBy } from "../src/llm/injection/metrics.js";
import { promptInjectionScanner } from "../src/llm/scanners/prompt-injection.js";

const dataDir = resolve(import.meta.dirname, "../../shared/data/llm");

export async function benchInjection(): Promise<string[]> {
  if (!existsSync(join(dataDir, "prompts.jsonl"))) return ["prompt injection: skipped: ../shared/data/llm not found"];
  const rows = [...readJsonl(join(dataDir, "prompts.jsonl")), ...readJsonl(join(dataDir, "harmful.jsonl"))];
  const evalRows = rows.filter((r) => r.use === "eval-only");
  const scanner = promptInjectionScanner();
  await scanner.scan("warm-up"); // load the model outside the timing

  // Each text is scanned `repeats` times; the fastest run is its latency, so a scheduler
  // pause on a shared machine does not count as the scanner's time.
  const score = async (subset: typeof rows, repeats: number) => {
    const scores = new Float32Array(subset.length);
    const msPerKiloChar: number[] = [];
    for (let i = 0; i < subset.length; i++) {
      let best = Number.POSITIVE_INFINITY;
      for (let k = 0; k < repeats; k++) {
        const started = performance.now();
        const result = await scanner.scan(subset[i].text);
        best = Math.min(best, performance.now() - started);
        scores[i] = result.valid ? 0 : 1;
      }
      msPerKiloChar.push((best * 1000) / Math.max(subset[i].text.length, 1000));
    }
    return { scores, msPerKiloChar };
  };

  const lines: string[] = [];
  const unseen = await score(evalRows, 1);
  const m = binaryMetrics(
    unseen.scores,
    evalRows.map((r) => r.label),
    1,
  );
  lines.push(
    `prompt injection, eval-only rows (${evalRows.length}, never trained on): F1 ${m.f1.toFixed(3)}, precision ${m.precision.toFixed(3)}, recall ${m.recall.toFixed(3)}, FPR ${(100 * m.fpr).toFixed(1)}%`,
  );
  for (const [kind, { flagged, total }] of flaggedRateBy(evalRows, unseen.scores, 1, (r) => r.kind)) {
    const what = kind === "benign" || kind === "harmful_request" ? "FPR" : "recall";
    lines.push(`  ${kind}: ${what} ${((100 * flagged) / total).toFixed(1)}% (${flagged}/${total})`);
  }

  // Latency over every row (train rows too: only the timing is used from them).
  const timing = (await score(rows, 3)).msPerKiloChar.sort((a, b) => a - b);
  const at = (q: number) => timing[Math.min(timing.length - 1, Math.floor(q * timing.length))];
  lines.push(
    `prompt injection latency per 1,000 characters (best of 3 per text; texts shorter than 1,000 count as 1,000), ${timing.length} texts: p50 ${at(0.5).toFixed(3)} ms, p99 ${at(0.99).toFixed(3)} ms, max ${at(1).toFixed(3)} ms (target p99 ≤ 5 ms)`,
  );
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await benchInjection()) console.log(line);
}
