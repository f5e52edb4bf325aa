/**
 * safetensors: an 8-byte little-endian header length, a JSON header, then raw tensor
 * bytes. Only the header is read, so a multi-GB file scans in constant time; the checks
 * are the ones a loader relies on (offsets in bounds, sizes that match dtype × shape).
 */

import type { Finding, Severity } from "../../report/finding.js";
import { malformedHeader } from "../findings.js";
import { scanFinding } from "../rules.js";
import type { ByteSource, FormatScanner, ScanContext } from "../types.js";

const MAX_HEADER = 100 * 1024 * 1024;

/** Bits per element; sub-byte types are packed. */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  I64: 64,
  U64: 64,
  F64: 64,
  C64: 64,
};

function headerLength(head: Uint8Array): bigint {
  return new DataView(head.buffer, head.byteOffset, head.byteLength).getBigUint64(0, true);
}

export const safetensorsScanner: FormatScanner = {
  format: "safetensors",
  detect(head, size) {
    if (head.length < 10 || size < 10) return false;
    // A JSON object header: '{' then a key or '}'. The length is not bounded here, so a
    // header that claims more than the file (even 2^63 bytes) is still detected, and reported.
    let p = 9;
    while (p < head.length && head[p] === 0x20) p++;
    return headerLength(head) >= 2n && head[8] === 0x7b && (head[p] === 0x22 || head[p] === 0x7d);
  },
  async scan(source: ByteSource, context: ScanContext): Promise<Finding[]> {
    const findings: Finding[] = [];
    const add = (severity: Severity, rule: string, message: string, offset?: number, detail?: string) =>
      findings.push(scanFinding(severity, rule, message, { ...context.location, offset, symbol: detail }));

    const malformed = (problem: string, offset: number) => [malformedHeader(context.location, "safetensors", problem, { severity: "high", offset })];
    if (source.size < 10) return malformed(`The file is ${source.size} bytes, too short for a safetensors header length and header`, 0);
    const claimed = headerLength(await source.read(0, 8));
    if (claimed > BigInt(Math.min(MAX_HEADER, source.size - 8))) {
      const limit = claimed > MAX_HEADER ? "the 100 MB a loader accepts" : `the ${source.size - 8} bytes the file holds after it`;
      return malformed(`The safetensors header claims ${claimed} bytes, more than ${limit}; a loader may over-allocate or read past the end`, 0);
    }
    const n = Number(claimed);
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await source.read(8, n)));
    } catch (e) {
      return malformed(`The safetensors header is not valid UTF-8 JSON (${(e as Error).message})`, 8);
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      return malformed("The safetensors header is not a JSON object of tensors", 8);
    }
    const dataStart = 8 + n;
    const dataSize = source.size - dataStart;
    const spans: { name: string; begin: number; end: number }[] = [];
    for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
      if (name === "__metadata__") {
        checkMetadata(entry, add);
        continue;
      }
      const t = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof t !== "object" || t === null || typeof t.dtype !== "string" || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets)) {
        add("high", "SAFETENSORS-BAD-TENSOR", `tensor ${name} lacks a dtype, shape or data_offsets`, 8, name);
        continue;
      }
      const [begin, end] = t.data_offsets as unknown[];
      const dims = t.shape as unknown[];
      if (!isIndex(begin) || !isIndex(end) || t.data_offsets.length !== 2 || end < begin || !dims.every(isIndex)) {
        add("high", "SAFETENSORS-BAD-TENSOR", `tensor ${name} has malformed shape or data_offsets`, 8, name);
        continue;
      }
      if (end > dataSize) {
        add(
          "high",
          "SAFETENSORS-OUT-OF-BOUNDS",
          `tensor ${name} spans bytes ${begin}–${end} but the data region holds ${dataSize}; a loader would read past the file`,
          dataStart + begin,
          name,
        );
        continue;
      }
      const bits = DTYPE_BITS[t.dtype];
      if (bits === undefined) {
        add("medium", "SAFETENSORS-UNKNOWN-DTYPE", `tensor ${name} has unknown dtype ${t.dtype}`, 8, name);
      } else {
        const elements = (dims as number[]).reduce((a, b) => a * b, 1);
        const expected = Math.ceil((elements * bits) / 8);
        if (expected !== end - begin) {
          add(
            "high",
            "SAFETENSORS-SIZE-MISMATCH",
            `tensor ${name} is ${t.dtype}[${dims.join(",")}] = ${expected} bytes but its offsets span ${end - begin}`,
            dataStart + begin,
            name,
          );
        }
      }
      spans.push({ name, begin, end });
    }
    spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
    let covered = 0;
    for (const s of spans) {
      if (s.begin < covered) {
        add(
          "high",
          "SAFETENSORS-OVERLAP",
          `tensor ${s.name} overlaps the previous tensor (starts at ${s.begin}, before ${covered}); tensors aliasing bytes are a sign of crafting`,
          dataStart + s.begin,
          s.name,
        );
      } else if (s.begin > covered) {
        add(
          "low",
          "SAFETENSORS-GAP",
          `${s.begin - covered} bytes before tensor ${s.name} belong to no tensor; hidden data may sit there`,
          dataStart + covered,
          s.name,
        );
      }
      covered = Math.max(covered, s.end);
    }
    if (covered < dataSize) {
      add(
        "low",
        "SAFETENSORS-TRAILING",
        `${dataSize - covered} bytes after the last tensor belong to no tensor; hidden data may sit there`,
        dataStart + covered,
      );
    }
    return findings;
  },
};

function isIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

const SUSPICIOUS_TEXT = /<script|javascript:|\beval\(|\bexec\(|__import__|\bos\.system|\bsubprocess\b/i;

function checkMetadata(entry: unknown, add: (s: Severity, r: string, m: string, o?: number, d?: string) => void): void {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    add("medium", "SAFETENSORS-BAD-METADATA", "__metadata__ is not a JSON object of strings", 8, "__metadata__");
    return;
  }
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== "string") {
      add(
        "medium",
        "SAFETENSORS-BAD-METADATA",
        `__metadata__.${key} is not a string, which the format requires; loaders may mishandle it`,
        8,
        `__metadata__.${key}`,
      );
    } else if (SUSPICIOUS_TEXT.test(value)) {
      add(
        "medium",
        "SAFETENSORS-METADATA-CODE",
        `__metadata__.${key} contains code-like text; check where it is rendered or evaluated`,
        8,
        `__metadata__.${key}`,
      );
    }
  }
}
