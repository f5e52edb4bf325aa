/**
 * Ban scanner (LLM Guard's BanSubstrings, BanTopics and Regex, Protect AI 2023): banned
 * substrings, regular expressions and topics given as keyword lists. Matching is case-
 * and normalisation-insensitive: the text is folded (NFKC, homoglyphs mapped to Latin,
 * invisible characters dropped, lower case, whitespace runs collapsed) and also read with
 * leetspeak undone, keeping a map from each folded character to the original, so a match
 * on "ｉｇｎ\u200Bore" or "1gn0re" reports the span of the original characters. Deliberate
 * deviation: topics are keyword lists, not a zero-shot classifier, so everything stays
 * local and sub-millisecond.
 */
import { AegisError } from "../../errors.js";
import { deLeet, normalizeText } from "../normalize.js";
import { invisibleCategory } from "./invisible-text.js";
import { stringListOption } from "./options.js";
import { matchesOf } from "./spans.js";
import type { Detection, Scanner, ScanResult } from "./types.js";

export interface BanOptions {
  /** Substrings that must not appear (matched anywhere, folded). */
  substrings?: readonly string[];
  /** Regular expressions (strings are compiled case-insensitive); matched on the original and the folded text. */
  regex?: readonly (string | RegExp)[];
  /** Topic name → keywords or phrases (matched as whole words, folded). */
  topics?: Readonly<Record<string, readonly string[]>>;
  /** Stage the scanner is declared for (default "both"). */
  stage?: "input" | "output" | "both";
}

export interface FoldedText {
  text: string;
  /** For each folded character, the offset of the original character it came from. */
  origin: number[];
}

const foldCache = new Map<string, string>();

function foldChar(ch: string): string {
  const cp = ch.codePointAt(0) as number;
  if (cp < 0x80) return ch.toLowerCase();
  // Invisible characters and the plain direction marks are dropped.
  if (invisibleCategory(cp) !== undefined || cp === 0x200e || cp === 0x200f || cp === 0x061c) return "";
  let folded = foldCache.get(ch);
  if (folded === undefined) {
    folded = normalizeText(ch).text.toLowerCase();
    if (/^\s+$/.test(ch)) folded = " ";
    foldCache.set(ch, folded);
  }
  return folded;
}

/** The folded text and, for each of its characters, where it came from in the original. */
export function foldText(text: string): FoldedText {
  let out = "";
  const origin: number[] = [];
  let i = 0;
  for (const ch of text) {
    let f = foldChar(ch);
    if (/\s/.test(f)) f = out.endsWith(" ") ? "" : " ";
    for (let k = 0; k < f.length; k++) origin.push(i);
    out += f;
    i += ch.length;
  }
  origin.push(i);
  return { text: out, origin };
}

/** Span in the original text of folded characters [start, end). */
function originalSpan(folded: FoldedText, start: number, end: number, original: string): [number, number] {
  const last = folded.origin[end - 1];
  const cp = original.codePointAt(last) as number;
  return [folded.origin[start], last + (cp > 0xffff ? 2 : 1)];
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function foldPattern(s: string): string {
  return foldText(s).text.trim();
}

export function banScanner(options: BanOptions = {}): Scanner {
  const substrings = (stringListOption("ban", "substrings", options.substrings) ?? []).map(foldPattern).filter(Boolean);
  if (options.regex !== undefined && (!Array.isArray(options.regex) || !options.regex.every((r) => typeof r === "string" || r instanceof RegExp)))
    throw new AegisError("BAD_OPTION", "ban: regex must be a list of regular expressions");
  if (options.topics !== undefined && (typeof options.topics !== "object" || options.topics === null || Array.isArray(options.topics)))
    throw new AegisError("BAD_OPTION", "ban: topics must map topic names to keyword lists");
  const regexes = (options.regex ?? []).map((r) => {
    try {
      return typeof r === "string" ? new RegExp(r, "gi") : new RegExp(r.source, r.flags.includes("g") ? r.flags : `${r.flags}g`);
    } catch (e) {
      throw new AegisError("BAD_OPTION", `ban: "${r}" is not a valid regular expression (${(e as Error).message}); fix or remove it`);
    }
  });
  const topics = Object.entries(options.topics ?? {}).map(([topic, words]) => ({
    topic,
    re: new RegExp(
      `(?<![\\p{L}\\p{N}])(?:${(stringListOption("ban", `topics.${topic}`, words) ?? []).map((w) => escapeRegex(foldPattern(w))).join("|")})(?![\\p{L}\\p{N}])`,
      "gu",
    ),
  }));
  const substringRe = substrings.length ? new RegExp(substrings.map(escapeRegex).join("|"), "g") : undefined;
  if (!substringRe && regexes.length === 0 && topics.length === 0)
    throw new AegisError("BAD_OPTION", "ban: give at least one of substrings, regex or topics, or leave the ban scanner out");
  return {
    name: "ban",
    stage: options.stage ?? "both",
    description: "banned substrings, regular expressions and topics (keyword lists), case- and normalisation-insensitive",
    scan(text: string): ScanResult {
      const findings: Detection[] = [];
      const seen = new Set<string>();
      const add = (kind: string, span: [number, number], detail: string) => {
        const key = `${kind}:${span[0]}:${span[1]}`;
        if (seen.has(key)) return;
        seen.add(key);
        findings.push({ scanner: "ban", kind, span, score: 1, detail });
      };
      const folded = foldText(text);
      const unleeted: FoldedText = { text: deLeet(folded.text), origin: folded.origin };
      for (const view of unleeted.text === folded.text ? [folded] : [folded, unleeted]) {
        if (substringRe)
          for (const m of matchesOf(substringRe, view.text))
            add("substring", originalSpan(view, m.index, m.index + m[0].length, text), `banned substring "${m[0]}"`);
        for (const { topic, re } of topics)
          for (const m of matchesOf(re, view.text)) add(`topic:${topic}`, originalSpan(view, m.index, m.index + m[0].length, text), `keyword "${m[0]}"`);
        for (const re of regexes)
          for (const m of matchesOf(re, view.text))
            if (m[0].length > 0) add("regex", originalSpan(view, m.index, m.index + m[0].length, text), `matched /${re.source}/`);
      }
      for (const re of regexes)
        for (const m of matchesOf(re, text)) if (m[0].length > 0) add("regex", [m.index, m.index + m[0].length], `matched /${re.source}/`);
      findings.sort((a, b) => (a.span?.[0] ?? 0) - (b.span?.[0] ?? 0));
      return { text, valid: findings.length === 0, score: findings.length ? 1 : 0, findings };
    },
  };
}
