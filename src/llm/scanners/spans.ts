/**
 * Helpers the detectors share: a detection is a kind, a span and a score; redaction
 * replaces detections in a text, keeping one of any overlapping pair (the higher score,
 * then the longer span), so two detectors that match the same characters redact once.
 */

export interface Detection {
  kind: string;
  /** [start, end) in the scanned text. */
  span: [number, number];
  score: number;
}

/** Detections without overlaps, in text order: higher score wins, then the longer span. */
export function resolveOverlaps(detections: readonly Detection[]): Detection[] {
  const ranked = [...detections].sort((a, b) => b.score - a.score || b.span[1] - b.span[0] - (a.span[1] - a.span[0]) || a.span[0] - b.span[0]);
  const kept: Detection[] = [];
  for (const d of ranked) {
    if (kept.every((k) => d.span[1] <= k.span[0] || d.span[0] >= k.span[1])) kept.push(d);
  }
  return kept.sort((a, b) => a.span[0] - b.span[0]);
}

/** Replaces non-overlapping detections (in text order) with the string `replacement` gives. */
export function replaceDetections(text: string, detections: readonly Detection[], replacement: (d: Detection, original: string) => string): string {
  let out = "";
  let at = 0;
  for (const d of detections) {
    out += text.slice(at, d.span[0]) + replacement(d, text.slice(d.span[0], d.span[1]));
    at = d.span[1];
  }
  return out + text.slice(at);
}

/** Shannon entropy in bits per character (Shannon, 1948). */
export function shannonEntropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  const n = s.length;
  for (const c of counts.values()) {
    const p = c / n;
    h -= p * Math.log2(p);
  }
  return h;
}

/** All matches of a global regex with their spans. */
export function* matchesOf(re: RegExp, text: string): Generator<RegExpExecArray> {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    yield m;
    if (m[0].length === 0) re.lastIndex++;
  }
}
