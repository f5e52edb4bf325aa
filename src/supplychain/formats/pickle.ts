/**
 * Raw pickle streams (and joblib, which is a pickle stream with numpy buffers in
 * between): detected by content, handed to the symbolic pickle VM.
 */

import type { Finding } from "../../report/finding.js";
import { scanPickle } from "../pickle/scan.js";
import { scanFinding } from "../rules.js";
import { readAll } from "../sources.js";
import type { FormatScanner, ScanContext } from "../types.js";

// Opcodes a protocol 0/1 pickle can start with (a value, a container or a mark).
const START = new Set([..."(]})cdlNSVILFKJGXUTBC\x8c"].map((c) => c.charCodeAt(0)));

export function looksLikePickle(head: Uint8Array): boolean {
  if (head.length < 2) return false;
  if (head[0] === 0x80) return head[1] <= 5;
  // No magic before protocol 2: the first bytes must walk as opcodes (text fails fast: a space is no opcode).
  return START.has(head[0]) && pickleEnd(head, 0) !== -1;
}

export const pickleScanner: FormatScanner = {
  format: "pickle",
  detect: (head) => looksLikePickle(head),
  async scan(source, context) {
    // The VM reads every pickle stored back to back (legacy torch.save, joblib), so a benign
    // first pickle cannot hide a malicious second one.
    if (source.size <= context.limits.maxExtractedBytes) return scanPickle(await readAll(source), context);
    // Pickle has no index: a bigger one is analysed up to the limit, and says so.
    const findings = await scanPickle(await source.read(0, context.limits.maxExtractedBytes), context);
    return findings.concat(
      scanFinding(
        "medium",
        "PICKLE-PARTIALLY-SCANNED",
        `Only the first ${context.limits.maxExtractedBytes} of ${source.size} bytes were analysed; raise the limit or convert the file to safetensors.`,
        { ...context.location, offset: context.limits.maxExtractedBytes },
      ),
    );
  },
};

/** Scans a pickle that starts at `start` inside bytes, with offsets relative to bytes. */
export async function scanPickleAt(bytes: Uint8Array, start: number, context: ScanContext): Promise<Finding[]> {
  const findings = await scanPickle(bytes.subarray(start), context);
  return start === 0 ? findings : findings.map((f) => ({ ...f, location: { ...f.location, offset: (f.location.offset ?? 0) + start } }));
}

// Argument sizes of the pickle opcodes, used only to recognise protocol 0/1 pickles (which
// have no magic) by walking their first opcodes; the VM does the analysis.
const FIXED: Record<string, number> = { "\x80": 1, "\x95": 8, K: 1, M: 2, J: 4, G: 8, h: 1, j: 4, q: 1, r: 4, "\x82": 1, "\x83": 2, "\x84": 4 };
const SIZED: Record<string, number> = { U: 1, C: 1, "\x8c": 1, "\x8a": 1, T: 4, X: 4, B: 4, "\x8b": 4, "\x8d": 8, "\x8e": 8, "\x96": 8 };
const LINES: Record<string, number> = { I: 1, L: 1, F: 1, S: 1, V: 1, P: 1, g: 1, p: 1, c: 2, i: 2 };
const BARE = new Set(
  [..."()]}aebdltuRoN.012sQ"].concat(["\x81", "\x85", "\x86", "\x87", "\x88", "\x89", "\x8f", "\x90", "\x91", "\x92", "\x93", "\x94", "\x97", "\x98"]),
);

/**
 * Offset just past the STOP of the pickle starting at `start`; -1 at a byte that is no
 * opcode, Infinity when the bytes end first.
 */
export function pickleEnd(b: Uint8Array, start: number): number {
  let p = start;
  while (p < b.length) {
    const op = String.fromCharCode(b[p++]);
    if (op === ".") return p;
    if (op in FIXED) p += FIXED[op];
    else if (op in SIZED) {
      const n = SIZED[op];
      let len = 0;
      for (let i = n - 1; i >= 0; i--) len = len * 256 + (b[p + i] ?? 0);
      p += n + len;
    } else if (op in LINES)
      for (let l = 0; l < LINES[op]; l++) {
        const nl = b.indexOf(10, p);
        if (nl < 0) return Number.POSITIVE_INFINITY;
        p = nl + 1;
      }
    else if (!BARE.has(op)) return -1;
  }
  return Number.POSITIVE_INFINITY;
}
