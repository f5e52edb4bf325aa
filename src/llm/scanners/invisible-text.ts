/**
 * Invisible-text input scanner: characters a reader does not see but a model reads.
 * Unicode tag characters U+E0000–E007F carry a hidden ASCII copy of a text ("ASCII
 * smuggling", Goodside 2024; Rehberger 2024) and are decoded into the finding; runs of
 * variation selectors can carry arbitrary bytes (Butler, 2025) and are decoded the same
 * way; bidirectional embedding, override and isolate controls reorder what is displayed
 * ("Trojan Source", Boucher & Anderson, 2021); zero-width characters split words to slip
 * past filters or hide bits ("Bad Characters", Boucher et al., 2022). Character classes
 * follow Unicode UTS #39 and UAX #9. Deliberate deviations, to spare ordinary text: a zero-
 * width joiner between emoji, a zero-width non-joiner inside Arabic-script or Indic words,
 * one variation selector after a character, a leading byte-order mark, and the plain
 * LRM/RLM/ALM marks are not findings; soft hyphens and stray byte-order marks are weak ones
 * (score 0.3, still valid). The text passed on has the flagged characters removed.
 */
import type { Detection, Scanner, ScanResult } from "./types.js";

export interface InvisibleTextOptions {
  /** Remove the flagged characters from the text passed on (default true). */
  strip?: boolean;
}

type Category = "unicode-tags" | "variation-selectors" | "bidi-control" | "zero-width" | "formatting";

const SCORES: Record<Category, number> = {
  "unicode-tags": 1,
  "variation-selectors": 0.9,
  "bidi-control": 0.8,
  "zero-width": 0.7,
  // Soft hyphens and stray byte-order marks come with text copied from web pages and files; alone they are weak evidence.
  formatting: 0.3,
};

/** The invisible-character category of a code point, if it has one. */
export function invisibleCategory(cp: number): Category | undefined {
  if (cp >= 0xe0000 && cp <= 0xe007f) return "unicode-tags";
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) return "variation-selectors";
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return "bidi-control";
  if ((cp >= 0x200b && cp <= 0x200d) || (cp >= 0x2060 && cp <= 0x2064) || cp === 0x180e || cp === 0x034f) return "zero-width";
  if (cp === 0x115f || cp === 0x1160 || cp === 0x3164 || cp === 0xffa0) return "zero-width";
  if (cp === 0x00ad || cp === 0xfeff) return "formatting";
  return undefined;
}

const EMOJI = /\p{Extended_Pictographic}/u;
const JOINING_SCRIPT =
  /[\p{Script=Arabic}\p{Script=Devanagari}\p{Script=Bengali}\p{Script=Malayalam}\p{Script=Tamil}\p{Script=Telugu}\p{Script=Kannada}\p{Script=Gujarati}\p{Script=Gurmukhi}\p{Script=Oriya}\p{Script=Sinhala}\p{Script=Syriac}]/u;

interface Run {
  category: Category;
  start: number;
  end: number;
  codePoints: number[];
}

/** Butler's encoding: VS1–VS16 are bytes 0–15, VS17–VS256 bytes 16–255. */
function variationSelectorBytes(codePoints: number[]): string {
  const bytes = codePoints.map((cp) => (cp <= 0xfe0f ? cp - 0xfe00 : cp - 0xe0100 + 16));
  return Buffer.from(bytes).toString("utf8");
}

function tagText(codePoints: number[]): string {
  return codePoints
    .filter((cp) => cp >= 0xe0020 && cp <= 0xe007e)
    .map((cp) => String.fromCharCode(cp - 0xe0000))
    .join("");
}

function isBenign(run: Run, text: string): boolean {
  const before = text.slice(Math.max(0, run.start - 2), run.start);
  const after = text.slice(run.end, run.end + 2);
  if (run.category === "variation-selectors") return run.codePoints.length === 1 && before.length > 0;
  if (run.category === "formatting" && run.start === 0 && run.codePoints[0] === 0xfeff) return true;
  if (run.category !== "zero-width" || run.codePoints.length !== 1) return false;
  const cp = run.codePoints[0];
  if (cp === 0x200d && EMOJI.test(before) && EMOJI.test(after)) return true;
  if (cp === 0x200d && EMOJI.test(before) && /^\uFE0F?/.test(after) && EMOJI.test(after.replace(/^\uFE0F/, ""))) return true;
  if ((cp === 0x200c || cp === 0x200d) && JOINING_SCRIPT.test(before) && JOINING_SCRIPT.test(after)) return true;
  return false;
}

/** Runs of invisible characters of one category, benign uses left out. */
export function findInvisibleRuns(text: string): Run[] {
  const runs: Run[] = [];
  let i = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    const category = cp < 0xad ? undefined : invisibleCategory(cp);
    if (category) {
      const last = runs.at(-1);
      if (last && last.category === category && last.end === i) {
        last.end += ch.length;
        last.codePoints.push(cp);
      } else runs.push({ category, start: i, end: i + ch.length, codePoints: [cp] });
    }
    i += ch.length;
  }
  return runs.filter((run) => !isBenign(run, text));
}

/** Fast path: a UTF-16 scan for any code unit a flagged character can start with. */
function mayHideText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xad) continue;
    if (c === 0xad || c === 0xdb40 || invisibleCategory(c) !== undefined) return true;
  }
  return false;
}

function findingOf(run: Run): Detection {
  const count = run.codePoints.length;
  let detail = `${count} ${run.category} character${count === 1 ? "" : "s"}`;
  if (run.category === "unicode-tags") detail += `; hidden text: "${tagText(run.codePoints).slice(0, 200)}"`;
  if (run.category === "variation-selectors") detail += `; hidden bytes as UTF-8: "${variationSelectorBytes(run.codePoints).slice(0, 200)}"`;
  // Many zero-width characters are a covert channel (bits), not formatting.
  const score = run.category === "zero-width" && count >= 8 ? 0.9 : SCORES[run.category];
  return { scanner: "invisible-text", kind: run.category, span: [run.start, run.end], score, detail };
}

/** The text hidden in Unicode tag characters, if any (for callers that want to rescan it). */
export function hiddenTagText(text: string): string {
  return tagText(findInvisibleRuns(text).flatMap((r) => (r.category === "unicode-tags" ? r.codePoints : [])));
}

export function invisibleTextScanner(options: InvisibleTextOptions = {}): Scanner {
  const strip = options.strip ?? true;
  return {
    name: "invisible-text",
    stage: "input",
    description: "Unicode tag smuggling (decoded), variation-selector payloads, bidi overrides and zero-width characters",
    scan(text: string): ScanResult {
      if (!mayHideText(text)) return { text, valid: true, score: 0, findings: [] };
      const runs = findInvisibleRuns(text);
      const findings = runs.map(findingOf);
      const score = Math.max(0, ...findings.map((f) => f.score));
      let out = text;
      if (strip) {
        out = "";
        let at = 0;
        for (const r of runs) {
          out += text.slice(at, r.start);
          at = r.end;
        }
        out += text.slice(at);
      }
      return { text: out, valid: score < 0.5, score, findings };
    },
  };
}
