/**
 * Secrets scanner (OWASP Top 10 for LLM Applications 2025, LLM02 Sensitive Information
 * Disclosure). Provider key formats are matched by their documented prefixes, lengths and
 * alphabets (AWS access key ids are base32 after a four-letter prefix; GitHub's 2021 token
 * format ghp_/gho_/ghu_/ghs_/ghr_ and github_pat_; Slack xox*; Stripe sk_live/rk_live;
 * Google AIza; OpenAI keys carry "T3BlbkFJ", base64 of "OpenAI"; Anthropic sk-ant-api03-…AA;
 * PEM private-key blocks, RFC 7468; JWTs, RFC 7519, whose header must decode to JSON with
 * "alg"). Other tokens are flagged by Shannon entropy as in Yelp's detect-secrets (2018),
 * with a length-dependent threshold instead of its fixed 4.5 bits, because a random 24-
 * character token cannot reach 4.5 bits per character. Deliberate deviations: pure hex
 * strings (hashes, commit ids) and UUIDs are only flagged after an assignment such as
 * `api_key = …`, and base64 that decodes to readable text is left to the encoded-payload
 * scanner. Redaction replaces each secret with [REDACTED:kind].
 */
import { type Detection, matchesOf, replaceDetections, resolveOverlaps, shannonEntropy } from "./spans.js";
import type { Scanner, ScanResult } from "./types.js";

export interface SecretsOptions {
  /** Replace secrets with [REDACTED:kind] in the text passed on (default true). */
  redact?: boolean;
  /** Also flag high-entropy tokens that match no provider format (default true). */
  entropy?: boolean;
}

interface SecretPattern {
  kind: string;
  re: RegExp;
  score: number;
  /** Extra check on the matched text (a checksum or a decodable header). */
  check?: (match: string) => boolean;
}

// Token boundaries: a key is not part of a longer run of key characters.
const B = "(?<![A-Za-z0-9_\\-+/])";
const E = "(?![A-Za-z0-9_\\-+/])";

const PATTERNS: SecretPattern[] = [
  { kind: "aws-access-key", re: new RegExp(`${B}(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}${E}`, "g"), score: 1 },
  { kind: "github-token", re: new RegExp(`${B}gh[pousr]_[A-Za-z0-9]{36}${E}`, "g"), score: 1 },
  { kind: "github-token", re: new RegExp(`${B}github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}${E}`, "g"), score: 1 },
  { kind: "slack-token", re: new RegExp(`${B}xox[abposr]-(?:[0-9]{8,13}-){1,3}[A-Za-z0-9]{24,34}${E}`, "g"), score: 1 },
  { kind: "slack-webhook", re: /https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{8,12}\/B[A-Z0-9]{8,12}\/[A-Za-z0-9]{24}/g, score: 1 },
  { kind: "stripe-key", re: new RegExp(`${B}(?:sk|rk)_live_[A-Za-z0-9]{24,99}${E}`, "g"), score: 1 },
  { kind: "google-api-key", re: new RegExp(`${B}AIza[A-Za-z0-9_\\-]{35}${E}`, "g"), score: 1 },
  { kind: "anthropic-key", re: new RegExp(`${B}sk-ant-(?:api|admin)\\d\\d-[A-Za-z0-9_\\-]{93}AA${E}`, "g"), score: 1 },
  { kind: "openai-key", re: new RegExp(`${B}sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_\\-]{16,}T3BlbkFJ[A-Za-z0-9_\\-]{16,}${E}`, "g"), score: 1 },
  // Newer project keys without the marker: the prefix and a long tail are enough.
  { kind: "openai-key", re: new RegExp(`${B}sk-proj-[A-Za-z0-9_\\-]{48,}${E}`, "g"), score: 0.9 },
  {
    kind: "private-key",
    re: /-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----[\s\S]*?(?:-----END \1-----|$)/g,
    score: 1,
    // A header alone (documentation about PEM files) is not a key: require a body.
    check: (m) => /[A-Za-z0-9+/=]{32,}/.test(m),
  },
  {
    kind: "jwt",
    re: new RegExp(`${B}eyJ[A-Za-z0-9_\\-]{8,}\\.eyJ[A-Za-z0-9_\\-]{8,}\\.[A-Za-z0-9_\\-]{16,}${E}`, "g"),
    score: 0.9,
    check: (m) => jwtHeaderIsValid(m.slice(0, m.indexOf("."))),
  },
];

const AWS_SECRET = new RegExp(`${B}[A-Za-z0-9/+]{40}${E}`, "g");
const AWS_CONTEXT = /aws|secret/i;
const ASSIGNMENT =
  /(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|pwd|access[_-]?key|auth[_-]?key|client[_-]?secret)["']?\s*(?::=|[:=]|=>)\s*["']?([A-Za-z0-9+/=_\-.!@#$%^&*~]{8,})/gi;
const CANDIDATE = new RegExp(`${B}[A-Za-z0-9+/=_\\-]{24,}${E}`, "g");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^[0-9a-fA-F]+$/;
const PLACEHOLDER = /^(?:x+|\*+|\.+|your|<|\$[A-Za-z_{]|example|changeme|placeholder|dummy|redacted|process\.env|os\.environ)/i;

function jwtHeaderIsValid(header: string): boolean {
  try {
    const json = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
    return typeof json === "object" && json !== null && typeof json.alg === "string";
  } catch {
    return false;
  }
}

/**
 * Entropy a token must reach to count as random: 90% of the entropy of a uniformly random
 * string of its length over 64 symbols (≈ log2 of the distinct symbols expected), capped
 * at detect-secrets' 4.5 bits.
 */
export function entropyThreshold(length: number): number {
  const expectedDistinct = 64 * (1 - Math.exp(-length / 64));
  return Math.min(4.5, 0.9 * Math.log2(expectedDistinct));
}

/** Base64 that decodes to mostly printable UTF-8 is encoded text, not a key. */
function decodesToText(token: string): boolean {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(token) || token.length % 4 === 1) return false;
  const bytes = Buffer.from(token, token.includes("-") || token.includes("_") ? "base64url" : "base64");
  let printable = 0;
  for (const b of bytes) if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09) printable++;
  return bytes.length > 0 && printable / bytes.length > 0.95;
}

function looksRandom(token: string): boolean {
  if (!/[0-9]/.test(token) || !/[A-Za-z]/.test(token)) return false;
  if (UUID.test(token) || HEX.test(token)) return false;
  if (!/[a-z]/.test(token) || !/[A-Z]/.test(token)) {
    // Single-case tokens need to be long: lower-case identifiers with digits are common.
    if (token.length < 32) return false;
  }
  // Words joined by separators (snake_case, kebab-case, paths) are not random.
  const parts = token.split(/[_\-/]/).filter(Boolean);
  if (parts.length > 2 && parts.every((p) => p.length < 12)) return false;
  // camelCase words ("getUserAccountById2") form long runs; random tokens switch case every two characters or so.
  const runs = token.match(/[A-Z]?[a-z]+|[A-Z]+|[0-9]+/g) ?? [];
  if (token.length / Math.max(1, runs.length) >= 3.2) return false;
  return shannonEntropy(token) >= entropyThreshold(token.length) && !decodesToText(token);
}

/** Every secret in the text, overlaps resolved (a provider format beats the entropy rule). */
export function detectSecrets(text: string, options: { entropy?: boolean } = {}): Detection[] {
  const found: Detection[] = [];
  for (const p of PATTERNS) {
    for (const m of matchesOf(p.re, text)) {
      if (!p.check || p.check(m[0])) found.push({ kind: p.kind, span: [m.index, m.index + m[0].length], score: p.score });
    }
  }
  for (const m of matchesOf(AWS_SECRET, text)) {
    const before = text.slice(Math.max(0, m.index - 80), m.index);
    if (AWS_CONTEXT.test(before) && /[0-9]/.test(m[0]) && /[a-z]/.test(m[0]) && /[A-Z]/.test(m[0]))
      found.push({ kind: "aws-secret-key", span: [m.index, m.index + 40], score: 0.95 });
  }
  for (const m of matchesOf(ASSIGNMENT, text)) {
    const value = m[1];
    const start = m.index + m[0].length - value.length;
    if (!PLACEHOLDER.test(value) && /[0-9!@#$%^&*~]/.test(value) && shannonEntropy(value) >= 3)
      found.push({ kind: "generic-secret", span: [start, start + value.length], score: 0.8 });
  }
  if (options.entropy !== false) {
    for (const m of matchesOf(CANDIDATE, text)) {
      if (looksRandom(m[0])) found.push({ kind: "high-entropy-token", span: [m.index, m.index + m[0].length], score: 0.7 });
    }
  }
  return resolveOverlaps(found);
}

export function redactSecrets(text: string, detections: readonly Detection[]): string {
  return replaceDetections(text, detections, (d) => `[REDACTED:${d.kind}]`);
}

export function secretsScanner(options: SecretsOptions = {}): Scanner {
  const redact = options.redact ?? true;
  return {
    name: "secrets",
    stage: "both",
    description: "API keys (AWS, GitHub, Slack, Stripe, Google, OpenAI, Anthropic), private keys, JWTs and high-entropy tokens; redacts them",
    scan(text: string): ScanResult {
      const detections = detectSecrets(text, options);
      return {
        text: redact ? redactSecrets(text, detections) : text,
        valid: detections.length === 0,
        score: Math.max(0, ...detections.map((d) => d.score)),
        findings: detections.map((d) => ({ scanner: "secrets", kind: d.kind, span: d.span, score: d.score })),
      };
    },
  };
}
