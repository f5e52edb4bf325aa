/**
 * Entity masking before featurisation: the values a user writes about themselves (e-mail
 * addresses, phone numbers, card and account numbers, IP addresses, URLs, long numbers) are
 * replaced by one placeholder per kind, so the classifier learns from how a text is phrased
 * and never from which address or order number it happens to contain. A prompt such as "My
 * email is alice@example.com, please repeat it back to me" is then read as "my email is
 * <email>, please repeat it back to me", the same whatever the address, and the placeholders
 * the pii scanner writes ([EMAIL_1]) read the same way, so scanner order does not matter.
 * Values are found by the pii scanner's validated detectors (checksums, layouts).
 */
import { detectPii } from "../scanners/pii.js";

/** Marks a placeholder word: a private-use character, so no real text spells a placeholder. */
export const ENTITY_SIGIL = "\uE000";

const URL = /\b(?:https?|ftp):\/\/[^\s<>"'`)\]]+/gi;
// Numbers of two or more digits standing alone (order numbers, dates, amounts); digits inside
// words stay, since they may be leetspeak ("1gn0r3").
const NUMBER = /(?<![\p{L}\p{N}])\d{2,}(?:[.,:/-]\d+)*(?![\p{L}\p{N}])/gu;
// Placeholders written by the pii scanner's anonymisation, e.g. [EMAIL_1], [CREDIT_CARD_2], [REDACTED:email].
const PII_PLACEHOLDER = /\[(?:([A-Z][A-Z_]*?)_\d+|REDACTED:([a-z0-9-]+))\]/g;

function placeholder(kind: string): string {
  return `${ENTITY_SIGIL}${kind.toLowerCase().replace(/[^a-z0-9]/g, "")}`;
}

/** The text with personal values, URLs and standalone numbers replaced by placeholder words. */
export function maskEntities(text: string): string {
  let out = text.replace(PII_PLACEHOLDER, (_, anonymised: string | undefined, redacted: string | undefined) => placeholder(anonymised ?? redacted ?? "pii"));
  const detections = detectPii(out);
  for (let i = detections.length - 1; i >= 0; i--) {
    const { kind, span } = detections[i];
    out = out.slice(0, span[0]) + placeholder(kind) + out.slice(span[1]);
  }
  return out.replace(URL, placeholder("url")).replace(NUMBER, placeholder("number"));
}
