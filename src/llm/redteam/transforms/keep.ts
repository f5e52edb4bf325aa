/** Applies a character-level rewrite to `text` except inside the `keep` substrings (canary tokens must stay exact). */
export function rewriteOutside(text: string, keep: readonly string[], rewrite: (part: string) => string): string {
  const kept = keep.filter((k) => k.length > 0);
  if (kept.length === 0) return rewrite(text);
  const escaped = kept.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return text
    .split(new RegExp(`(${escaped.join("|")})`))
    .map((part) => (kept.includes(part) ? part : rewrite(part)))
    .join("");
}
