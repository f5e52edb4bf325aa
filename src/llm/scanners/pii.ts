/**
 * PII scanner (OWASP Top 10 for LLM Applications 2025, LLM02; the entity list of LLM
 * Guard's Anonymize scanner, with checksums instead of a NER model). Every candidate is
 * validated where a standard defines a check: payment cards by the Luhn checksum
 * (ISO/IEC 7812-1) and their issuer prefixes; IBANs by ISO 13616 mod-97 and the per-country
 * lengths of the SWIFT IBAN registry; US SSNs without the never-issued areas 000, 666 and
 * 900–999, group 00 or serial 0000 (SSA); UK National Insurance numbers with the prefixes
 * HMRC never allocates; Spanish DNI/NIE with its mod-23 check letter; Indian Aadhaar with
 * its Verhoeff check digit (Verhoeff, 1969); phone numbers in E.164 (ITU-T, 2010) or the
 * NANP/UK/French national layouts; IPv4 and IPv6 by node:net, except IPv4 look-alikes that
 * are version numbers. Anonymisation replaces each value with a placeholder such as
 * [EMAIL_1] and keeps the original in the context's vault; the deanonymize output scanner
 * puts it back. Deliberate deviation: no person names or addresses (they need a NER model).
 */
import { isIPv4, isIPv6 } from "node:net";
import { AegisError } from "../../errors.js";
import { stringListOption } from "./options.js";
import { type Detection, matchesOf, replaceDetections, resolveOverlaps } from "./spans.js";
import type { ScanContext, Scanner, ScanResult } from "./types.js";

export interface PiiOptions {
  /** "anonymize" (default): placeholders kept in the vault; "redact": [REDACTED:kind]; "detect": text unchanged. */
  mode?: "anonymize" | "redact" | "detect";
  /** Kinds to look for (default all). */
  kinds?: readonly string[];
}

export const PII_KINDS = ["email", "phone", "credit-card", "iban", "us-ssn", "uk-nino", "es-dni", "in-aadhaar", "ipv4", "ipv6"] as const;

// File extensions that look like top-level domains in "icon@2x.png".
const FILE_EXTENSIONS = new Set(["png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "pdf", "js", "ts", "css", "json", "txt", "md", "py"]);
const EMAIL =
  /(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-])/g;

// E.164: "+", country code, subscriber number; separators allowed between groups.
const E164 = /(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w-])/g;
// NANP: (415) 555-0132, 415-555-0132, 415.555.0132 — area and exchange codes start with 2–9.
const NANP = /(?<![\w+.-])(?:\(([2-9]\d\d)\) ?|([2-9]\d\d)([-.]))([2-9]\d\d)[-.](\d{4})(?![\w-]|\.\d)/g;
// UK: 020 7946 0958, 07700 900123, 0161 496 0000. France: 01 23 45 67 89.
const UK_PHONE = /(?<![\w+.-])0(?:\d{2} \d{4} \d{4}|\d{3} \d{3} \d{4}|\d{4} \d{6}|\d{4} \d{3} \d{3})(?![\w-]|[ .]\d)/g;
const FR_PHONE = /(?<![\w+.-])0[1-9](?:[ .]\d\d){4}(?![\w-]|[ .]\d)/g;

const CARD = /(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|[.,]\d)/g;
const IBAN = /(?<![\w])([A-Z]{2})(\d{2})((?: ?[A-Z0-9]){10,30})(?![\w])/g;
const SSN = /(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])/g;
const NINO = /(?<![\w])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])(?![\w])/g;
const DNI = /(?<![\w-])([XYZ]|\d)(\d{7})-?([A-Z])(?![\w-])/g;
const AADHAAR = /(?<![\w-]|\d[ -])([2-9]\d{3})[ -](\d{4})[ -](\d{4})(?![\w-]|[ -]\d)/g;
const IPV4 = /(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)/g;
const IPV6 = /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])/g;

/** IBAN length per country (SWIFT IBAN registry). */
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BR: 29,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MR: 27,
  MT: 31,
  MU: 30,
  NL: 18,
  NO: 15,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  SA: 24,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  TN: 24,
  TR: 26,
  UA: 29,
  VG: 24,
  XK: 20,
};

/** ISO/IEC 7812-1 Luhn checksum over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Issuer prefixes and lengths of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro). */
function cardNetworkValid(digits: string): boolean {
  const n = digits.length;
  const p2 = Number(digits.slice(0, 2));
  const p4 = Number(digits.slice(0, 4));
  const p6 = Number(digits.slice(0, 6));
  if (digits[0] === "4") return n === 13 || n === 16 || n === 19;
  if ((p2 >= 51 && p2 <= 55) || (p6 >= 222100 && p6 <= 272099)) return n === 16;
  if (p2 === 34 || p2 === 37) return n === 15;
  if (p4 === 6011 || p2 === 65 || (p4 >= 6440 && p4 <= 6499)) return n >= 16 && n <= 19;
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;
  if (p2 === 36 || p2 === 38 || (p4 >= 3000 && p4 <= 3059)) return n >= 14 && n <= 19;
  if (p2 === 62) return n >= 16 && n <= 19;
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return n >= 12 && n <= 19;
  return false;
}

/** ISO 13616: move the first four characters to the end, letters to 10…35, remainder mod 97 must be 1. */
export function ibanValid(iban: string): boolean {
  const compact = iban.replace(/ /g, "");
  if (IBAN_LENGTHS[compact.slice(0, 2)] !== compact.length) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = ch >= "A" ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    remainder = value > 9 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

function ssnValid(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  if (a === 0 || a === 666 || a >= 900 || group === "00" || serial === "0000") return false;
  // Numbers published in advertising and never valid (SSA).
  return !(`${area}-${group}-${serial}` === "078-05-1120" || `${area}-${group}-${serial}` === "219-09-9999");
}

const NINO_NEVER = new Set(["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"]);

const DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE";
export function dniValid(first: string, rest: string, letter: string): boolean {
  const lead = first === "X" ? "0" : first === "Y" ? "1" : first === "Z" ? "2" : first;
  return DNI_LETTERS[Number(lead + rest) % 23] === letter;
}

// Verhoeff (1969): dihedral group D5 multiplication and the position permutation.
const VERHOEFF_D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
  [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
  [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
  [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
  [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
  [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
  [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
  [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
  [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
  [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
  [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
  [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];
export function verhoeffValid(digits: string): boolean {
  let c = 0;
  for (let i = 0; i < digits.length; i++) c = VERHOEFF_D[c][VERHOEFF_P[i % 8][digits.charCodeAt(digits.length - 1 - i) - 48]];
  return c === 0;
}

/** An IPv4 look-alike preceded by "v", "version" or a hyphenated name is a version number. */
function isVersionContext(text: string, start: number): boolean {
  // "v1.2.3.4", "version 4.1.2.0", or glued to a name as in "WinPython-64bit-3.4.2.4".
  return /(?:\bv|\bversion\s*|\bver\.?\s*|\brelease\s*|\bbuild\s*|[A-Za-z0-9]-)$/i.test(text.slice(Math.max(0, start - 10), start));
}

function e164Valid(match: string): boolean {
  const digits = match.replace(/\D/g, "");
  return digits.length >= 8 && digits.length <= 15;
}

/** Every PII value in the text, overlaps resolved. */
export function detectPii(text: string, kinds: ReadonlySet<string> = new Set(PII_KINDS)): Detection[] {
  const found: Detection[] = [];
  const add = (kind: string, start: number, end: number, score: number) => {
    if (kinds.has(kind)) found.push({ kind, span: [start, end], score });
  };
  for (const m of matchesOf(EMAIL, text)) if (!FILE_EXTENSIONS.has(m[1].toLowerCase())) add("email", m.index, m.index + m[0].length, 0.9);
  for (const m of matchesOf(E164, text)) if (e164Valid(m[0])) add("phone", m.index, m.index + m[0].length, 0.8);
  for (const re of [NANP, UK_PHONE, FR_PHONE]) {
    for (const m of matchesOf(re, text)) {
      // NANP written with dots must use dots throughout (415.555.0132), not mixed like a version.
      if (re === NANP && m[3] !== undefined && m[0][7] !== m[3]) continue;
      add("phone", m.index, m.index + m[0].length, 0.75);
    }
  }
  for (const m of matchesOf(CARD, text)) {
    const digits = m[0].replace(/[ -]/g, "");
    // Separators, when present, must be consistent (one kind).
    if (/ /.test(m[0]) && /-/.test(m[0])) continue;
    // Digit groups that continue an IBAN ("IT77 LXRN 5663 …") are not a card.
    if (/\b[A-Z]{2}\d{2}(?: [A-Z0-9]{4})* $/.test(text.slice(Math.max(0, m.index - 40), m.index))) continue;
    if (luhnValid(digits) && cardNetworkValid(digits)) add("credit-card", m.index, m.index + m[0].length, 0.95);
  }
  for (const m of matchesOf(IBAN, text)) {
    // The match may run into a following word; trim to the country's length.
    const want = IBAN_LENGTHS[m[1]];
    if (want === undefined) continue;
    let taken = 0;
    let end = m.index;
    while (end < m.index + m[0].length && taken < want) {
      if (m[0][end - m.index] !== " ") taken++;
      end++;
    }
    const candidate = text.slice(m.index, end);
    if (taken === want && ibanValid(candidate) && !/[A-Za-z0-9]/.test(text[end] ?? "")) add("iban", m.index, end, 0.95);
  }
  for (const m of matchesOf(SSN, text)) if (ssnValid(m[1], m[2], m[3])) add("us-ssn", m.index, m.index + m[0].length, 0.9);
  for (const m of matchesOf(NINO, text)) if (!NINO_NEVER.has(m[1])) add("uk-nino", m.index, m.index + m[0].length, 0.85);
  for (const m of matchesOf(DNI, text)) if (dniValid(m[1], m[2], m[3])) add("es-dni", m.index, m.index + m[0].length, 0.85);
  for (const m of matchesOf(AADHAAR, text)) if (verhoeffValid(m[1] + m[2] + m[3])) add("in-aadhaar", m.index, m.index + m[0].length, 0.85);
  for (const m of matchesOf(IPV4, text)) {
    if (isIPv4(m[0]) && !isVersionContext(text, m.index)) add("ipv4", m.index, m.index + m[0].length, 0.6);
  }
  for (const m of matchesOf(IPV6, text)) {
    const groups = m[0].split(":").filter(Boolean).length;
    if (isIPv6(m[0]) && /\d/.test(m[0]) && (groups >= 3 || (m[0].includes("::") && groups >= 2))) add("ipv6", m.index, m.index + m[0].length, 0.6);
  }
  return resolveOverlaps(found);
}

function placeholderPrefix(kind: string): string {
  return kind.toUpperCase().replace(/-/g, "_");
}

/**
 * Replaces each detection with a placeholder, reusing the placeholder of a value the vault
 * already holds and numbering new ones after the highest of their kind.
 */
export function anonymize(text: string, detections: readonly Detection[], vault: Map<string, string>): string {
  const byValue = new Map<string, string>();
  for (const [placeholder, value] of vault) byValue.set(value, placeholder);
  return replaceDetections(text, detections, (d, original) => {
    const known = byValue.get(original);
    if (known) return known;
    const prefix = placeholderPrefix(d.kind);
    let n = 1;
    while (vault.has(`[${prefix}_${n}]`)) n++;
    const placeholder = `[${prefix}_${n}]`;
    vault.set(placeholder, original);
    byValue.set(original, placeholder);
    return placeholder;
  });
}

export function redactPii(text: string, detections: readonly Detection[]): string {
  return replaceDetections(text, detections, (d) => `[REDACTED:${d.kind}]`);
}

export function piiScanner(options: PiiOptions = {}): Scanner {
  const mode = options.mode ?? "anonymize";
  if (mode !== "anonymize" && mode !== "redact" && mode !== "detect")
    throw new AegisError("BAD_OPTION", `pii: mode must be anonymize, redact or detect, not "${mode}"`);
  const kinds = new Set(stringListOption("pii", "kinds", options.kinds) ?? PII_KINDS);
  for (const k of kinds)
    if (!(PII_KINDS as readonly string[]).includes(k)) throw new AegisError("BAD_OPTION", `pii: unknown kind "${k}"; kinds are ${PII_KINDS.join(", ")}`);
  return {
    name: "pii",
    stage: "input",
    description: "emails, phones, payment cards (Luhn), IBANs (mod 97), SSN/NINO/DNI/Aadhaar, IP addresses; anonymised through the vault",
    scan(text: string, context: ScanContext = {}): ScanResult {
      const detections = detectPii(text, kinds);
      let out = text;
      if (mode === "redact") out = redactPii(text, detections);
      // Without a vault the originals could never be restored: anonymising still hides them.
      else if (mode === "anonymize") out = anonymize(text, detections, context.vault ?? new Map());
      return {
        text: out,
        valid: detections.length === 0,
        score: Math.max(0, ...detections.map((d) => d.score)),
        findings: detections.map((d) => ({ scanner: "pii", kind: d.kind, span: d.span, score: d.score })),
      };
    },
  };
}
