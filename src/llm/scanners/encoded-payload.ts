/**
 * Encoded-payload input scanner: instructions smuggled past filters by encoding them
 * (base64, hex, URL percent-encoding, ROT13, leetspeak, homoglyphs and other Unicode
 * look-alikes) — the "obfuscation" and "encoding" attacks of Kang et al. 2023 ("Exploiting
 * Programmatic Behavior of LLMs") and Wei et al. 2023 ("Jailbroken: How Does LLM Safety
 * Training Fail?"), garak's encoding probes. Each encoded segment is decoded, kept only if
 * it decodes to readable text (so hashes, UUIDs and binary blobs are ignored), searched
 * again for encodings (bounded depth and size), and every decoded text is rescanned with
 * the scanners given (by default the prompt-injection scanner). A readable decoded payload
 * is a weak finding by itself (score 0.3); the verdict comes from the rescans. ROT13 is
 * recognised because the decoded segment has many more common English words than the
 * original.
 */
import { deLeet, normalizeText } from "../normalize.js";
import { numberOption } from "./options.js";
import { matchesOf } from "./spans.js";
import type { Detection, ScanContext, Scanner, ScanResult } from "./types.js";

export interface EncodedPayloadOptions {
  /** Scanners run on every decoded text (default none; the registry passes prompt-injection and secrets). */
  rescan?: readonly Scanner[];
  /** How many layers of encoding to undo (default 3). */
  maxDepth?: number;
  /** Total decoded characters rescanned per input, a bound on work (default 20,000). */
  maxDecodedChars?: number;
  /** Shortest encoded segment considered, in characters (default 16). */
  minLength?: number;
}

export type Encoding = "base64" | "hex" | "url" | "rot13" | "leetspeak" | "homoglyphs";

export interface DecodedSegment {
  encoding: Encoding;
  /** Span of the encoded text in the text that was searched. */
  span: [number, number];
  decoded: string;
}

const BASE64 = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])/g;
const HEX = /(?<![0-9A-Za-z])(?:(?:\\x|0x)?[0-9A-Fa-f]{2}[ :,]?){8,}(?![0-9A-Za-z])/g;
// Whitespace-free tokens (matched linearly; the percent escapes are counted afterwards).
const TOKEN = /\S+/g;
const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/g;
const SEGMENT = /[^\n.:!?;"]{12,}/g;

// Frequent English words: a decoded ROT13 segment is full of them; ciphertext has none.
const COMMON_WORDS = new Set(
  (
    "the be to of and a in that have i it for not on with he as you do at this but his by from they we say her she or an will my " +
    "one all would there their what so up out if about who get which go me when make can like time no just him know take people " +
    "into year your good some could them see other than then now look only come its over think also back after use two how our " +
    "work first well way even new want because any these give day most us is are was were been has had did said tell ignore " +
    "previous instructions instead please write show reveal system prompt rules answer must should never always now password secret"
  ).split(" "),
);

/** Share of a text's distinct words that are common English words. */
function englishness(text: string): number {
  // Single letters ("a", "i") are too easy to hit by chance, and so is one short word repeated (table cells).
  const words = new Set(text.toLowerCase().match(/[a-z]{2,}/g) ?? []);
  if (words.size < 4) return 0;
  let common = 0;
  for (const w of words) if (COMMON_WORDS.has(w)) common++;
  return common / words.size;
}

export function rot13(text: string): string {
  return text.replace(/[A-Za-z]/g, (c) => {
    const base = c <= "Z" ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
  });
}

/** Readable text: valid UTF-8 (no replacement characters), printable, with letters or another layer of encoding. */
function readable(decoded: string): boolean {
  if (decoded.length < 4 || decoded.includes("\uFFFD")) return false;
  let printable = 0;
  for (const ch of decoded) {
    const cp = ch.codePointAt(0) as number;
    if (cp >= 0x20 ? cp !== 0x7f : cp === 0x0a || cp === 0x0d || cp === 0x09) printable++;
  }
  if (printable / [...decoded].length < 0.95) return false;
  // Another layer of encoding, or text: short fragments must read as words (a space), not as a hash that happened to decode.
  return /^[0-9A-Fa-f\s]+$/.test(decoded) || (/\p{L}{2}/u.test(decoded) && (decoded.length >= 24 || /\s/.test(decoded.trim())));
}

function decodeBase64(token: string): string | undefined {
  const body = token.replace(/=+$/, "");
  if (body.length % 4 === 1) return undefined;
  // Real base64 of text mixes cases and usually digits; a long word or identifier does not decode to text anyway.
  return Buffer.from(body, /[-_]/.test(body) ? "base64url" : "base64").toString("utf8");
}

/** Encoded segments of one layer of the text, each decoded to readable text. */
export function findEncodedSegments(text: string, minLength = 16): DecodedSegment[] {
  const out: DecodedSegment[] = [];
  for (const m of matchesOf(BASE64, text)) {
    if (m[0].length < minLength || !/[A-Z]/.test(m[0]) || !/[a-z]/.test(m[0])) continue;
    const decoded = decodeBase64(m[0]);
    if (decoded !== undefined && readable(decoded)) out.push({ encoding: "base64", span: [m.index, m.index + m[0].length], decoded });
  }
  for (const m of matchesOf(HEX, text)) {
    const digits = m[0].replace(/\\x|0x|[ :,]/g, "");
    if (digits.length < minLength || digits.length % 2 === 1) continue;
    const decoded = Buffer.from(digits, "hex").toString("utf8");
    const end = m.index + m[0].trimEnd().replace(/[:,]$/, "").length;
    if (readable(decoded)) out.push({ encoding: "hex", span: [m.index, end], decoded });
  }
  for (const m of matchesOf(TOKEN, text)) {
    if (m[0].length < minLength || (m[0].match(PERCENT_ESCAPE)?.length ?? 0) < 3) continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(m[0]);
    } catch {
      continue;
    }
    if (readable(decoded)) out.push({ encoding: "url", span: [m.index, m.index + m[0].length], decoded });
  }
  for (const m of matchesOf(SEGMENT, text)) {
    // Plain English is most segments: it is not shifted at all.
    if (englishness(m[0]) >= 0.1) continue;
    const shifted = rot13(m[0]);
    if (englishness(shifted) >= 0.35) out.push({ encoding: "rot13", span: [m.index, m.index + m[0].length], decoded: shifted });
  }
  return out;
}

const STYLED_LETTERS = /[\uFF21-\uFF3A\uFF41-\uFF5A]|\uD835[\uDC00-\uDFFF]/;

/**
 * Whether deLeet's rewrite looks like deliberate leetspeak: at least two word-length tokens
 * changed in two or more characters ("mp3 … 3rd" or one base64 token is ordinary; "1gn0r3
 * 4ll pr3v10us" is not). deLeet keeps lengths, so the texts align character by character.
 */
function looksLeet(original: string, rewritten: string): boolean {
  const wa = original.split(/\s+/);
  const wb = rewritten.split(/\s+/);
  let heavy = 0;
  for (let i = 0; i < wa.length && heavy < 2; i++) {
    if (wa[i] === wb[i] || wa[i].length > 20) continue;
    let subs = 0;
    for (let k = 0; k < wa[i].length; k++) if (wa[i][k] !== wb[i][k]) subs++;
    if (subs >= 2) heavy++;
  }
  return heavy >= 2;
}

interface Layer {
  text: string;
  encodings: Encoding[];
  /** Span of the outermost encoded segment in the scanned text. */
  span: [number, number];
}

/** Every decoded layer of the text, breadth first, within the depth and size bounds. */
export function decodeLayers(text: string, options: EncodedPayloadOptions = {}): Layer[] {
  const maxDepth = options.maxDepth ?? 3;
  let budget = options.maxDecodedChars ?? 20_000;
  const layers: Layer[] = [];
  const whole: [number, number] = [0, text.length];
  // Character-level obfuscation of the whole text is undone once, before looking for encodings.
  // NFKC alone also rewrites "…" and "™"; it counts only for fullwidth or mathematical letters.
  const normalized = normalizeText(text);
  const lookAlikes =
    normalized.transforms.some((t) => t === "homoglyphs" || t === "unicode-tags") || (normalized.transforms.includes("nfkc") && STYLED_LETTERS.test(text));
  if (lookAlikes) layers.push({ text: normalized.text, encodings: ["homoglyphs"], span: whole });
  const unleeted = deLeet(normalized.text);
  if (looksLeet(normalized.text, unleeted)) layers.push({ text: unleeted, encodings: ["leetspeak"], span: whole });
  let frontier: Layer[] = [{ text, encodings: [], span: whole }];
  for (let depth = 0; depth < maxDepth && frontier.length > 0; depth++) {
    const next: Layer[] = [];
    for (const layer of frontier) {
      for (const seg of findEncodedSegments(layer.text, options.minLength)) {
        if (budget < seg.decoded.length) return layers;
        budget -= seg.decoded.length;
        const span = layer.encodings.length === 0 ? seg.span : layer.span;
        next.push({ text: seg.decoded, encodings: [...layer.encodings, seg.encoding], span });
      }
    }
    layers.push(...next);
    frontier = next;
  }
  return layers;
}

const DELIBERATE: ReadonlySet<Encoding> = new Set(["base64", "hex", "url", "rot13"]);

export function encodedPayloadScanner(options: EncodedPayloadOptions = {}): Scanner {
  const rescan = options.rescan ?? [];
  numberOption("encoded-payload", "maxDepth", options.maxDepth, 1, 10);
  numberOption("encoded-payload", "maxDecodedChars", options.maxDecodedChars, 0, 10_000_000);
  numberOption("encoded-payload", "minLength", options.minLength, 4, 10_000);
  return {
    name: "encoded-payload",
    stage: "input",
    description: `base64, hex, URL-encoding, ROT13, leetspeak and homoglyphs decoded and rescanned${rescan.length ? ` (${rescan.map((s) => s.name).join(", ")})` : ""}`,
    async scan(text: string, context?: ScanContext): Promise<ScanResult> {
      const findings: Detection[] = [];
      let valid = true;
      // What each rescan scanner already finds in the text as written (computed only when needed):
      // a leetspeak or homoglyph rewrite of the whole text reports only what the rewrite revealed.
      const onOriginal = new Map<Scanner, Promise<Set<string>>>();
      const original = (scanner: Scanner) => {
        let found = onOriginal.get(scanner);
        if (!found) {
          found = Promise.resolve(scanner.scan(text, context)).then((r) => new Set(r.findings.map((f) => `${f.scanner}:${f.kind}`)));
          onOriginal.set(scanner, found);
        }
        return found;
      };
      for (const layer of decodeLayers(text, options)) {
        const via = layer.encodings.join(">");
        const rewrite = !layer.encodings.some((e) => DELIBERATE.has(e));
        const layerFindings: Detection[] = [];
        for (const scanner of rescan) {
          const result = await scanner.scan(layer.text, context);
          const known = rewrite ? await original(scanner) : new Set<string>();
          const revealed = result.findings.filter((f) => !known.has(`${f.scanner}:${f.kind}`));
          if (!result.valid && (!rewrite || revealed.length > 0)) valid = false;
          for (const f of revealed)
            layerFindings.push({ scanner: "encoded-payload", kind: `${via}:${f.scanner}:${f.kind}`, span: layer.span, score: f.score, detail: f.detail });
        }
        // Leetspeak and homoglyph "decodings" of ordinary text are noise unless they reveal something.
        if (layerFindings.length > 0 || !rewrite)
          findings.push({ scanner: "encoded-payload", kind: via, span: layer.span, score: 0.3, detail: `decoded: "${layer.text.slice(0, 120)}"` });
        findings.push(...layerFindings);
      }
      return { text, valid, score: Math.max(0, ...findings.map((f) => f.score)), findings };
    },
  };
}
